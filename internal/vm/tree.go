package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// WriteTree writes an install tree in dir that `provision images import`
// takes as CentOS 6.5's: a .treeinfo naming the kit's kernel and the
// installer initrd as images/pxeboot/vmlinuz and initrd.img, and a
// repodata/repomd.xml. VMs boot it as real nodes boot CentOS's.
func (k *Kit) WriteTree(dir string) error {
	kernel, err := os.ReadFile(k.Kernel)
	if err != nil {
		return err
	}
	var initrd bytes.Buffer
	if err := k.Initrd(&initrd); err != nil {
		return err
	}
	files := map[string][]byte{
		".treeinfo": []byte("# A stand-in for CentOS 6.5 x86_64 that QEMU nodes boot (provision's VM kit).\n" +
			"[general]\nfamily = CentOS\nversion = 6.5\narch = x86_64\n\n" +
			"[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n"),
		"images/pxeboot/vmlinuz":    kernel,
		"images/pxeboot/initrd.img": initrd.Bytes(),
		"repodata/repomd.xml":       []byte("<?xml version=\"1.0\"?>\n<repomd/>\n"),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// AddTap makes a tap device in namespace ns ("" for this one), plugged
// into bridge master when it is set, and up: the cable of a VM's NIC.
func AddTap(ctx context.Context, ns, name, master string) error {
	steps := [][]string{{"tuntap", "add", "dev", name, "mode", "tap"}}
	if master != "" {
		steps = append(steps, []string{"link", "set", name, "master", master})
	}
	steps = append(steps, []string{"link", "set", name, "up"})
	for _, args := range steps {
		if ns != "" {
			args = append([]string{"-n", ns}, args...)
		}
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("tap %s: ip %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// diskMagic starts the disk of a VM the installer (init.sh) installed.
const diskMagic = "provision-vm-disk 1"

// ErrNotInstalled says a VM's disk holds no install.
var ErrNotInstalled = errors.New("the disk holds no install")

// ReadDisk returns the kickstart the installer left on a VM's disk image:
// the line diskMagic, the kickstart's length in bytes, the kickstart.
func ReadDisk(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(io.LimitReader(f, 16<<20))
	magic, _ := r.ReadString('\n')
	if strings.TrimSpace(magic) != diskMagic {
		return nil, fmt.Errorf("disk %s: %w", path, ErrNotInstalled)
	}
	line, _ := r.ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n <= 0 || n > 8<<20 {
		return nil, fmt.Errorf("disk %s: bad kickstart length %q", path, strings.TrimSpace(line))
	}
	ks := make([]byte, n)
	if _, err := io.ReadFull(r, ks); err != nil {
		return nil, fmt.Errorf("disk %s: kickstart: %w", path, err)
	}
	return ks, nil
}
