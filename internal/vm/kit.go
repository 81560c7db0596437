package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultKitDir is where `make vmkit` puts the kit.
const DefaultKitDir = "/var/cache/provision/vmkit"

// KitDir is the kit directory: $PROVISION_VMKIT (read with getenv),
// else DefaultKitDir.
func KitDir(getenv func(string) string) string {
	if d := getenv("PROVISION_VMKIT"); d != "" {
		return d
	}
	return DefaultKitDir
}

// ErrNoKit says the kit directory lacks a piece; the error names it and
// how to make the kit.
var ErrNoKit = errors.New("VM kit incomplete (make vmkit downloads it from Debian's archive)")

// Kit is what a VM node boots besides its firmware: a kernel, the
// modules its NIC needs (loaded in order), a static busybox.
type Kit struct {
	Dir     string
	Kernel  string   // bzImage with an EFI stub, so both firmwares run it
	Busybox string   // statically linked
	Modules []string // .ko files, in load order
}

// FindKit reads the kit in dir: vmlinuz, busybox, and modules/ with the
// load order in modules/order (one file name per line).
func FindKit(dir string) (*Kit, error) {
	k := &Kit{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Busybox: filepath.Join(dir, "busybox")}
	for _, p := range []string{k.Kernel, k.Busybox} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoKit, err)
		}
	}
	order := filepath.Join(dir, "modules", "order")
	f, err := os.Open(order)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKit, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if strings.Contains(name, "/") || !strings.HasSuffix(name, ".ko") {
			return nil, fmt.Errorf("%s:%d: %q: want a .ko file name", order, line, name)
		}
		p := filepath.Join(dir, "modules", name)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", order, line, ErrNoKit, err)
		}
		k.Modules = append(k.Modules, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", order, err)
	}
	if len(k.Modules) == 0 {
		return nil, fmt.Errorf("%s: %w: no modules listed", order, ErrNoKit)
	}
	return k, nil
}

//go:embed init.sh
var initScript []byte

// Initrd writes the installer initrd: a gzipped newc cpio archive with
// busybox, the kit's modules and the init script (init.sh).
func (k *Kit) Initrd(w io.Writer) error {
	zw := gzip.NewWriter(w)
	cw := &cpioWriter{w: zw}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"} {
		cw.dir(d)
	}
	cw.file("init", 0o755, initScript)
	bb, err := os.ReadFile(k.Busybox)
	if err != nil {
		return err
	}
	cw.file("bin/busybox", 0o755, bb)
	var order bytes.Buffer
	for _, m := range k.Modules {
		data, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		cw.file("lib/modules/"+filepath.Base(m), 0o644, data)
		fmt.Fprintln(&order, filepath.Base(m))
	}
	cw.file("lib/modules/order", 0o644, order.Bytes())
	cw.trailer()
	if cw.err != nil {
		return cw.err
	}
	return zw.Close()
}

// cpioWriter writes the "newc" format the kernel unpacks an initramfs
// from (Documentation/driver-api/early-userspace/buffer-format.rst):
// a 110-byte ASCII header, the NUL-ended name, the data, each padded to
// 4 bytes.
type cpioWriter struct {
	w   io.Writer
	ino int
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	pad(&b, b.Len())
	b.Write(data)
	pad(&b, len(data))
	_, c.err = c.w.Write(b.Bytes())
}

func pad(b *bytes.Buffer, n int) {
	for ; n%4 != 0; n++ {
		b.WriteByte(0)
	}
}

func (c *cpioWriter) dir(name string) { c.entry(name, 0o040755, nil) }
func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, 0o100000|perm, data)
}
func (c *cpioWriter) trailer() { c.entry("TRAILER!!!", 0, nil) }
