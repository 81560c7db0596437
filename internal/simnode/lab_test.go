package simnode

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/internal/store"
	"golang.org/x/crypto/ssh"
)

// TestPXEInstallThenSSH: compute01 powered on with PXE-once goes through
// the firmware's DHCP and TFTP, iPXE's DHCP and script, the kickstart and
// its callbacks to "installed", reboots, and answers SSH on its management
// address with the host key the appliance made for it, letting the
// appliance's key in. Powered off, it leaves nothing in its namespace. Its
// next PXE boot gets the local-boot script (netboot is off) and boots the
// disk without installing, and with a DHCP server that reads the netboot
// flag it gets no boot file at all and boots the disk too.
func TestPXEInstallThenSSH(t *testing.T) {
	l := newLab(t)
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})

	if e := l.waitEvent(t, "lease", 1); e.MAC != nodeMAC || e.IP != nodeAddr {
		t.Errorf("lease event = %+v", e)
	}
	l.waitEvent(t, "transfer", 1)
	if e := l.waitEvent(t, "boot-script", 1); e.Attrs["netboot"] != "true" {
		t.Errorf("first boot script: %+v", e)
	}
	l.waitEvent(t, "kickstart", 1)
	installed := l.waitEvent(t, "installed", 1)
	if installed.IP != nodeAddr || installed.Attrs["netboot"] != "off" {
		t.Errorf("installed event = %+v", installed)
	}
	if got := l.count("installing"); got != 2 {
		t.Errorf("%d installing callbacks, want 2 (%%pre's and %%post's)", got)
	}
	p.waitStep(t, "sshd", "listening on "+nodeAddr+":22")
	dialSSH(t, l)

	// The kickstart's files are on the node's disk.
	keys, err := l.keys.HostKeys(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "etc", "ssh", "ssh_host_"+keys[0].Type+"_key"))
	if err != nil || !bytes.Equal(got, keys[0].Private) {
		t.Errorf("installed host key differs from the appliance's (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "root", ".ssh", "authorized_keys")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys: %v %v", fi, err)
	}

	p.powerOff(t)
	checkBare(t, l.node)

	// Second boot, PXE-once again: the script says local disk.
	l.bootAll.Store(true)
	p = startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	if e := l.waitEvent(t, "boot-script", 2); e.Attrs["netboot"] != "false" {
		t.Errorf("boot script after install: %+v", e)
	}
	p.waitStep(t, "local", "sanboot")
	p.waitStep(t, "sshd", "listening")
	dialSSH(t, l)
	p.powerOff(t)
	if n := l.count("kickstart"); n != 1 {
		t.Errorf("%d kickstarts served, want 1: the node installed again", n)
	}

	// Third boot: DHCP reads the flag and offers no boot file.
	l.bootAll.Store(false)
	p = startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	p.waitStep(t, "dhcp", "no boot file")
	p.waitStep(t, "sshd", "listening")
	p.powerOff(t)
	checkBare(t, l.node)
}

// TestMissingDiskFails: with a disk missing, %pre refuses the machine and
// the appliance gets a failed callback saying which disk; netboot stays
// on and nothing is installed.
func TestMissingDiskFails(t *testing.T) {
	l := newLab(t)
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true, Faults: Faults{MissingDisk: "sdb"}})
	e := l.waitEvent(t, "failed", 1)
	for _, want := range []string{"disk sdb (slot 1 120GB ssd) is missing", "found 3 fixed disks, the plan expects 4"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("failed callback %q lacks %q", e.Msg, want)
		}
	}
	p.waitStep(t, "pre", "refused")
	p.waitStep(t, "callback", "failed: not the machine the plan describes")
	if on, set, err := l.store.Flag(nodeName, store.FlagNetboot); err != nil || (set && !on) {
		t.Errorf("netboot flag after a refused install: on=%v set=%v err=%v", on, set, err)
	}
	if n := l.count("installed") + l.count("installing"); n != 0 {
		t.Errorf("%d installing/installed callbacks from a refused machine", n)
	}
	p.powerOff(t)
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused install wrote files: %v", err)
	}
	checkBare(t, l.node)
}

// TestNeverCallsBack: with the callback fault the install finishes and
// the node boots its disk, but the appliance hears nothing after the
// kickstart.
func TestNeverCallsBack(t *testing.T) {
	l := newLab(t)
	p := startNode(t, l.node, nodeSpec{RootDir: t.TempDir(), PXE: true, Faults: Faults{NoCallback: true}})
	l.waitEvent(t, "kickstart", 1)
	p.waitStep(t, "sshd", "listening")
	for _, k := range []string{"installing", "installed", "failed"} {
		if n := l.count(k); n != 0 {
			t.Errorf("%d %s callbacks from a node that never calls back", n, k)
		}
	}
}

// TestWaitsForLink: a node powered on with its switch port down waits
// for the link, as a PXE ROM's media test does, and goes on to its lease
// as soon as the port comes up.
func TestWaitsForLink(t *testing.T) {
	l := newLab(t)
	port := func(state string) {
		t.Helper()
		if out, err := exec.Command("ip", "link", "set", "dev", appIf, state).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", appIf, state, err, out)
		}
	}
	port("down")
	p := startNode(t, l.node, nodeSpec{RootDir: t.TempDir(), PXE: true})
	p.waitStep(t, "link", "no link, waiting for link-up")
	port("up")
	p.waitStep(t, "link", "link up after")
	if e := l.waitEvent(t, "lease", 1); e.MAC != nodeMAC {
		t.Errorf("lease event = %+v", e)
	}
	p.waitStep(t, "sshd", "listening")
}

// dialSSH connects from the appliance's namespace to the node's sshd,
// accepting only the host key the appliance made for the node, and logs
// in as root with the appliance's key.
func dialSSH(t testing.TB, l *lab) {
	t.Helper()
	pairs, err := l.keys.HostKeys(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	var want []ssh.PublicKey
	for _, kp := range pairs {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(kp.Public))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	app, err := l.keys.Appliance()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(app.Private)
	if err != nil {
		t.Fatal(err)
	}
	var presented ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			presented = key
			for _, k := range want {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return errors.New("host key is not the one the appliance made for " + nodeName)
		},
		Timeout: 10 * time.Second,
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(nodeAddr, "22"), 10*time.Second)
	if err != nil {
		t.Fatalf("dial the node's sshd: %v", err)
	}
	c, _, _, err := ssh.NewClientConn(conn, nodeAddr+":22", cfg)
	if err != nil {
		conn.Close()
		t.Fatalf("ssh to %s: %v", nodeName, err)
	}
	c.Close()
	if presented == nil {
		t.Fatal("no host key presented")
	}
}

// checkBare: after power-off the node's namespace holds lo and its PXE NIC
// only, with no IPv4 address.
func checkBare(t testing.TB, ns *netnstest.NS) {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns.Name, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	if strings.Join(names, " ") != "lo "+nodeIf {
		t.Errorf("links after power-off: %v", names)
	}
	out, err = exec.Command("ip", "-n", ns.Name, "-4", "-o", "addr", "show", "dev", nodeIf).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("%s after power-off: %s %v", nodeIf, out, err)
	}
}

// TestUEFISlowDHCP: a UEFI node (option 93 arch 7) with the slow-DHCP
// fault gets ipxe.efi over TFTP, installs and answers SSH; each of its
// DHCP messages waited the fault's delay.
func TestUEFISlowDHCP(t *testing.T) {
	l := newLab(t)
	const delay = 200 * time.Millisecond
	p := startNode(t, l.node, nodeSpec{RootDir: t.TempDir(), PXE: true, BootMode: "uefi", Faults: Faults{SlowDHCP: delay}})
	p.waitStep(t, "faults", "slow DHCP")
	if s := p.waitStep(t, "dhcp", "boot file ipxe.efi"); s.Elapsed < 2*delay {
		t.Errorf("firmware lease after %s, want at least %s (DISCOVER and REQUEST delayed)", s.Elapsed, 2*delay)
	}
	if e := l.waitEvent(t, "transfer", 1); !strings.Contains(e.Msg+e.Attrs["file"], "ipxe.efi") {
		t.Logf("transfer event: %+v", e)
	}
	l.waitEvent(t, "installed", 1)
	p.waitStep(t, "sshd", "listening")
	dialSSH(t, l)
}

// TestPXELinuxInstall: a node whose loader is pxelinux gets pxelinux.0,
// reads pxelinux.cfg/01-<mac> over TFTP, fetches kernel and initrd over
// TFTP from the install tree, installs (BOOTIF from IPAPPEND 2) and
// answers SSH; its next boot's config is LOCALBOOT.
func TestPXELinuxInstall(t *testing.T) {
	l := newLabEdited(t, func(site string) string {
		return strings.Replace(site, "name = \"compute01\"\n", "name = \"compute01\"\nloader = \"pxelinux\"\n", 1)
	})
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	p.waitStep(t, "tftp", "pxelinux.0")
	p.waitStep(t, "script", "pxelinux.cfg/01-52-54-00-5e-00-40")
	l.waitEvent(t, "installed", 1)
	p.waitStep(t, "sshd", "listening")
	dialSSH(t, l)
	p.powerOff(t)

	l.bootAll.Store(true)
	p = startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	p.waitStep(t, "local", "LOCALBOOT")
	p.waitStep(t, "sshd", "listening")
	if n := l.count("kickstart"); n != 1 {
		t.Errorf("%d kickstarts served, want 1", n)
	}
}

// TestUnlintableKickstartFails: a kickstart with a command RHEL 6.5 does
// not have fails the install before %pre, with a failed callback naming
// the problem, as anaconda stops on it.
func TestUnlintableKickstartFails(t *testing.T) {
	l := newLab(t)
	edit := func(ks []byte) []byte { return append([]byte("autopart --type=thinp\n"), ks...) }
	l.ksEdit.Store(&edit)
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	e := l.waitEvent(t, "failed", 1)
	if !strings.Contains(e.Msg, "kickstart does not lint") || !strings.Contains(e.Msg, "compute01.ks:1:") {
		t.Errorf("failed callback: %q", e.Msg)
	}
	p.waitStep(t, "callback", "failed: kickstart does not lint")
	if n := l.count("installing"); n != 0 {
		t.Errorf("%d installing callbacks: %%pre ran", n)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unlintable install wrote files: %v", err)
	}
}

// TestPowerOffMidInstall: a node powered off during its install stops at
// once, leaves its namespace bare, and has installed nothing.
func TestPowerOffMidInstall(t *testing.T) {
	l := newLab(t)
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true, InstallTime: time.Hour})
	p.waitStep(t, "packages", "installing packages")
	p.powerOff(t)
	if _, err := os.Stat(filepath.Join(root, ".simnode", "installed")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("installed marker after a power-off mid-install: %v", err)
	}
	checkBare(t, l.node)
}

// TestCrashThenBoot: a node process killed outright leaves its sshd and
// stand-in links; the next boot of the node clears both before it boots
// the disk, and its own sshd gets port 22.
func TestCrashThenBoot(t *testing.T) {
	l := newLab(t)
	root := t.TempDir()
	p := startNode(t, l.node, nodeSpec{RootDir: root, PXE: true})
	p.waitStep(t, "sshd", "listening")
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	data, err := os.ReadFile(filepath.Join(root, ".simnode", "sshd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !running(stale) {
		t.Fatalf("no stale sshd after the crash (pid %q): %v", data, err)
	}
	p = startNode(t, l.node, nodeSpec{RootDir: root})
	p.waitStep(t, "sshd", "listening")
	if running(stale) {
		t.Errorf("the crashed boot's sshd (pid %d) still runs", stale)
	}
	dialSSH(t, l)
	p.powerOff(t)
	checkBare(t, l.node)
}

// running says whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z'
}
