package bootcfg

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// TestQEMUPXELinux boots a VM whose NIC ROM is Debian's iPXE into
// Debian's pxelinux.0 (6.04) over QEMU's own TFTP server, with the
// rendered pxelinux config of a staging node: the install config must
// make pxelinux load the kernel and initrd it names, the local config
// must hand the boot back to the BIOS. It needs qemu-system-x86,
// ipxe-qemu and pxelinux, and runs only with PROVISION_QEMU=1:
//
//	PROVISION_QEMU=1 go test ./internal/bootcfg -run TestQEMUPXELinux -v
func TestQEMUPXELinux(t *testing.T) {
	if os.Getenv("PROVISION_QEMU") == "" {
		t.Skip("set PROVISION_QEMU=1 to run")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian: qemu-system-x86 ipxe-qemu)")
	}
	loaders := map[string]string{
		"pxelinux.0":  "/usr/lib/PXELINUX/pxelinux.0",
		"ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
	}
	for _, p := range loaders {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing (Debian: pxelinux syslinux-common)", p)
		}
	}
	plan := loadSite(t, "staging")
	node, _ := plan.Node("compute01")
	n := *node
	n.Loader = "pxelinux"
	// The serial directive is what lets this test read pxelinux.
	n.Console = "ttyS0,115200n8"
	mac, _ := ParseMAC("52:54:00:00:00:40")

	for _, c := range []struct {
		name      string
		netboot   bool
		want, not string
		done      []string
	}{
		{"install", true, "Loading images/centos-6.5/images/pxeboot/initrd.img", "", []string{"boot:"}},
		{"local", false, "PXELINUX", "Loading", []string{"No bootable device", "Boot failed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for name, src := range loaders {
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(root, name), b)
			}
			cfg, err := PXELinux(plan, &n, State{Netboot: c.netboot, Token: provision.NewSecret("abc123")})
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(root, PXELinuxName(mac)), cfg)
			tree := filepath.Join(root, "images", "centos-6.5", "images", "pxeboot")
			writeFile(t, filepath.Join(tree, "vmlinuz"), []byte("not a kernel"))
			writeFile(t, filepath.Join(tree, "initrd.img"), []byte("not an initrd"))

			serial := runVM(t, qemu, root, mac.String(), c.done)
			if !strings.Contains(serial, c.want) || c.not != "" && strings.Contains(serial, c.not) {
				t.Errorf("console: want %q, not %q:\n%s", c.want, c.not, serial)
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runVM boots a VM from TFTP root until its console shows one of done,
// or fails the test after a minute. The VM is killed before it returns.
func runVM(t *testing.T, qemu, root, mac string, done []string) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "console")
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "accel=tcg", "-m", "128", "-nographic",
		"-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,tftp="+root+",bootfile=pxelinux.0",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	// Wait reaps QEMU once the context kills it, on every return path.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	defer func() {
		cancel()
		if !reaped {
			<-exited
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(log)
		s := strings.ReplaceAll(string(b), "\r", "")
		for _, d := range done {
			if strings.Contains(s, d) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("VM did not get there within a minute; console:\n%s", s)
		case err := <-exited:
			reaped = true
			t.Fatalf("qemu exited: %v; console:\n%s", err, s)
		case <-tick.C:
		}
	}
}
