package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
