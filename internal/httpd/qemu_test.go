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

// TestQEMUiPXE boots a VM whose NIC ROM is Debian's iPXE (ipxe-qemu,
// 1.0.0+git-20190125) twice against the server, over QEMU's user network:
// its DHCP hands iPXE the /boot.ipxe URL. The first boot must run the
// install script (iPXE fetches the kernel it names); after the
// "installed" callback the second boot must run the local-boot script
// (sanboot of drive 0x80); a third VM with a MAC not in the site gets the
// unknown-MAC script, which tests ${platform}. It needs qemu-system-x86 and ipxe-qemu and
// runs only with PROVISION_QEMU=1 (about 20 s under TCG):
//
//	PROVISION_QEMU=1 go test ./internal/httpd -run TestQEMUiPXE -v
//
// QEMU's user network connects to the host from 127.0.0.1, so this test's
// plan puts compute01 at 127.0.0.1; the server's address check is the
// production one.
func TestQEMUiPXE(t *testing.T) {
	if os.Getenv("PROVISION_QEMU") == "" {
		t.Skip("set PROVISION_QEMU=1 to run")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian: qemu-system-x86 ipxe-qemu)")
	}
	const mac = "52:54:00:00:00:40"
	e := startPlan(t, func(base string) *provision.Plan {
		// 10.0.2.2 is the host as QEMU's user network shows it to the VM.
		p := testPlan(t, strings.Replace(base, "127.0.0.1", "10.0.2.2", 1))
		n, _ := p.Node(nodeName)
		n.PXE.Address = netip.MustParseAddr("127.0.0.1")
		return p
	})
	script := strings.Replace(e.base, "127.0.0.1", "10.0.2.2", 1) + "/boot.ipxe?mac=" + mac

	serial := boot(t, qemu, script, mac, func(serial string) bool {
		return strings.Contains(e.logText(), "images/pxeboot/vmlinuz") && strings.Contains(serial, "vmlinuz")
	})
	for _, want := range []string{"provision: installing centos-6.5 on " + nodeName, "vmlinuz"} {
		if !strings.Contains(serial, want) {
			t.Errorf("first boot's console lacks %q:\n%s", want, serial)
		}
	}

	t.Logf("first boot's console:\n%s", serial)
	tok := e.token(t, nodeName)
	hdr := map[string]string{"Authorization": "Bearer " + tok}
	if code, body := do(t, "127.0.0.1", "POST", e.base+"/api/v1/nodes/"+nodeName+"/events", hdr, `{"state":"installed"}`); code != 200 {
		t.Fatalf("installed callback: %d %s", code, body)
	}

	serial = boot(t, qemu, script, mac, func(serial string) bool {
		return strings.Contains(serial, "Boot from SAN device 0x80 failed") || strings.Contains(serial, "No bootable device")
	})
	for _, want := range []string{nodeName + " boots from its local disk", "Booting from SAN device 0x80"} {
		if !strings.Contains(serial, want) {
			t.Errorf("second boot's console lacks %q:\n%s", want, serial)
		}
	}
	t.Logf("second boot's console:\n%s", serial)

	// A MAC the site does not know: the script asks iPXE for its
	// platform and boots the local disk.
	const stranger = "52:54:00:00:99:99"
	serial = boot(t, qemu, strings.Replace(script, mac, stranger, 1), stranger, func(serial string) bool {
		return strings.Contains(serial, "Boot from SAN device 0x80 failed") || strings.Contains(serial, "No bootable device")
	})
	for _, want := range []string{"MAC " + stranger + " is not in site staging", "Booting from SAN device 0x80"} {
		if !strings.Contains(serial, want) {
			t.Errorf("unknown MAC's console lacks %q:\n%s", want, serial)
		}
	}
	var scripts []string
	for _, ev := range e.ev.list() {
		if ev.Kind == "boot-script" {
			scripts = append(scripts, ev.Attrs["netboot"])
		}
	}
	if strings.Join(scripts, ",") != "true,false" {
		t.Errorf("boot scripts served with netboot %v, want true then false", scripts)
	}
}

// boot runs one VM until done(serial console so far) holds, or fails the
// test after a minute. The VM is killed before boot returns.
func boot(t *testing.T, qemu, script, mac string, done func(string) bool) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "serial")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// -nographic puts the console, where SeaBIOS and iPXE write, on
	// stdout.
	cmd := exec.CommandContext(ctx, qemu, "-machine", "accel=tcg", "-m", "128", "-nographic",
		"-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile="+script,
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
		if done(s) {
			return s
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
