package httpd

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// firmware is one way a VM's iPXE starts: SeaBIOS with the iPXE NIC ROM,
// or OVMF with the iPXE EFI ROM.
type firmware struct {
	name, node, mac string
	// image is the node's install tree; kernel, the file put in it as
	// its vmlinuz: an iPXE build the firmware can run (bzImage on BIOS,
	// EFI on UEFI), so iPXE selects it as it would the CentOS kernel.
	image, kernel string
	args          []string // extra QEMU arguments
	// local tells, from the console, that the local-boot script ran and
	// handed the boot back to the firmware.
	local string
}

// flat undoes the console's wrapping at 80 columns, so a check can match
// a line the console split.
func flat(serial string) string { return strings.ReplaceAll(serial, "\n", "") }

// afterLocal holds when the console shows want and, after it, then.
func afterLocal(serial, want, then string) bool {
	i := strings.Index(serial, want)
	return i >= 0 && strings.Contains(serial[i:], then)
}

// TestQEMUiPXE boots VMs whose NIC ROM is Debian's iPXE (ipxe-qemu,
// 1.0.0+git-20190125) against the server over QEMU's user network, whose
// DHCP hands iPXE the /boot.ipxe URL: under SeaBIOS (BIOS) and OVMF
// (UEFI). For each, the first boot must run the install script (iPXE
// fetches and accepts the kernel and initrd it names); after the "installed" callback
// the second boot must run the local-boot script (sanboot of drive 0x80 on
// BIOS, exit to the firmware's next boot entry on UEFI); a VM with a MAC
// not in the site gets the unknown-MAC script, whose ${platform} test
// picks the same. It needs qemu-system-x86, ipxe-qemu and ovmf (UEFI is
// skipped without it) and runs only with PROVISION_QEMU=1 (about a
// minute under TCG):
//
//	PROVISION_QEMU=1 go test ./internal/httpd -run TestQEMUiPXE -v
//
// QEMU's user network connects to the host from 127.0.0.1, so this test's
// plan puts the nodes at 127.0.0.1; the server's address check is the
// production one.
func TestQEMUiPXE(t *testing.T) {
	if os.Getenv("PROVISION_QEMU") == "" {
		t.Skip("set PROVISION_QEMU=1 to run")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian: qemu-system-x86 ipxe-qemu)")
	}
	firmwares := []firmware{
		{name: "bios", node: nodeName, mac: "52:54:00:00:00:40", local: "Booting from SAN device 0x80",
			image: "centos-6.5", kernel: "/usr/lib/ipxe/ipxe.lkrn"},
		{name: "uefi", node: "compute02", mac: "52:54:00:00:00:41", local: "BdsDxe: failed to load",
			image: "centos-6.5-efi", kernel: "/usr/lib/ipxe/ipxe.efi",
			args: []string{"-machine", "q35,accel=tcg", "-bios", "/usr/share/ovmf/OVMF.fd"}},
	}
	e := startPlan(t, func(base string) *provision.Plan {
		// 10.0.2.2 is the host as QEMU's user network shows it to the VM.
		p := testPlan(t, strings.Replace(base, "127.0.0.1", "10.0.2.2", 1))
		for _, fw := range firmwares {
			n, _ := p.Node(fw.node)
			n.PXE.Address = netip.MustParseAddr("127.0.0.1")
			n.BootMode, n.Image = fw.name, fw.image
		}
		return p
	})
	if err := e.store.SetMACs("compute02", map[string]string{"em1": "52:54:00:00:00:41"}); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(e.base, "127.0.0.1", "10.0.2.2", 1)
	for _, fw := range firmwares {
		t.Run(fw.name, func(t *testing.T) {
			if fw.name == "uefi" {
				if _, err := os.Stat("/usr/share/ovmf/OVMF.fd"); err != nil {
					t.Skip("OVMF missing (Debian: ovmf)")
				}
			}
			kernel, err := os.ReadFile(fw.kernel)
			if err != nil {
				t.Skipf("%v (Debian: ipxe)", err)
			}
			pxeboot := filepath.Join(e.images, fw.image, "images", "pxeboot")
			if err := os.MkdirAll(pxeboot, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range map[string][]byte{"vmlinuz": kernel, "initrd.img": []byte("initrd-bytes")} {
				if err := os.WriteFile(filepath.Join(pxeboot, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			qemuFirmware(t, e, qemu, base, fw)
		})
	}
}

func qemuFirmware(t *testing.T, e *env, qemu, base string, fw firmware) {
	script := base + "/boot.ipxe?mac=" + fw.mac
	serial := boot(t, qemu, script, fw.mac, fw.args, func(serial string) bool {
		return strings.Contains(e.logText(), fw.image+"/images/pxeboot/initrd.img") && strings.Contains(serial, "initrd.img... ok")
	})
	t.Logf("install boot's console:\n%s", serial)
	for _, want := range []string{"provision: installing " + fw.image + " on " + fw.node, "vmlinuz... ok", "initrd.img... ok"} {
		if !strings.Contains(flat(serial), want) {
			t.Errorf("install boot's console lacks %q", want)
		}
	}

	hdr := map[string]string{"Authorization": "Bearer " + e.token(t, fw.node)}
	if code, body := do(t, "127.0.0.1", "POST", e.base+"/api/v1/nodes/"+fw.node+"/events", hdr, `{"state":"installed"}`); code != 200 {
		t.Fatalf("installed callback: %d %s", code, body)
	}

	msg := fw.node + " boots from its local disk"
	serial = boot(t, qemu, script, fw.mac, fw.args, func(serial string) bool { return afterLocal(serial, msg, fw.local) })
	t.Logf("local boot's console:\n%s", serial)
	if strings.Contains(serial, "installing") {
		t.Errorf("local boot ran the installer")
	}

	// A MAC the site does not know: the script asks iPXE for its
	// platform and boots the local disk.
	stranger := strings.Replace(fw.mac, "00:00:", "00:99:", 1)
	msg = "MAC " + stranger + " is not in site staging"
	serial = boot(t, qemu, strings.Replace(script, fw.mac, stranger, 1), stranger, fw.args, func(serial string) bool {
		return afterLocal(serial, msg, fw.local)
	})
	t.Logf("unknown MAC's console:\n%s", serial)

	var scripts []string
	for _, ev := range e.ev.list() {
		if ev.Kind == "boot-script" && ev.Node == fw.node {
			scripts = append(scripts, ev.Attrs["netboot"])
		}
	}
	if strings.Join(scripts, ",") != "true,false" {
		t.Errorf("boot scripts served with netboot %v, want true then false", scripts)
	}
}

// boot runs one VM until done(serial console so far) holds, or fails the
// test after two minutes. The VM is killed before boot returns.
func boot(t *testing.T, qemu, script, mac string, args []string, done func(string) bool) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "serial")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// -nographic puts the console, where SeaBIOS and iPXE write, on
	// stdout.
	if len(args) == 0 {
		args = []string{"-machine", "accel=tcg"}
	}
	cmd := exec.CommandContext(ctx, qemu, append(args, "-m", "256", "-nographic",
		"-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile="+script,
		"-device", "virtio-net-pci,netdev=n0,mac="+mac)...)
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
		if done(flat(s)) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("VM did not get there within two minutes; console:\n%s", s)
		case err := <-exited:
			reaped = true
			t.Fatalf("qemu exited: %v; console:\n%s", err, s)
		case <-tick.C:
		}
	}
}
