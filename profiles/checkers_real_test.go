package profiles

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holders are the nodes of each example site that run HAProxy and
// Keepalived, and the controllers (first and joining).
func checkNodes() map[string][]string {
	return map[string][]string{
		"paper":   {"loadbalance01", "loadbalance02"},
		"staging": {"controller01", "controller02"},
	}
}

// TestCheckHAProxy runs `haproxy -c` on each load balancer's haproxy.cfg.
func TestCheckHAProxy(t *testing.T) {
	need(t, false, "haproxy")
	r := mustRenderer(t)
	for site, nodes := range checkNodes() {
		plan := loadSite(t, site)
		in := realInputs(t, site)
		for _, n := range nodes {
			t.Run(site+"/"+n, func(t *testing.T) {
				root, _ := writeRoot(t, r, plan, n, in)
				out := check(t, "haproxy", "-c", "-f", filepath.Join(root, "etc/haproxy/haproxy.cfg"))
				if !strings.Contains(out, "Configuration file is valid") {
					t.Errorf("haproxy -c: %s", out)
				}
			})
		}
	}
}

// TestCheckKeepalived runs `keepalived -t` (Debian 12's 2.2.7 has it) in
// a network namespace holding the interfaces the config names, with the
// rendered /etc/keepalived bind-mounted so the track script is found.
func TestCheckKeepalived(t *testing.T) {
	need(t, true, "keepalived", "unshare", "ip")
	r := mustRenderer(t)
	for site, nodes := range checkNodes() {
		plan := loadSite(t, site)
		in := realInputs(t, site)
		for _, n := range nodes {
			t.Run(site+"/"+n, func(t *testing.T) {
				root, b := writeRoot(t, r, plan, n, in)
				var links []string
				v, err := newView(plan, mustNode(t, plan, n), in)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, inst := range v.LB.Instances {
					if !seen[inst.Interface] {
						seen[inst.Interface] = true
						links = append(links, "ip link add "+inst.Interface+" type veth peer name p"+inst.Interface)
					}
				}
				if _, ok := b.File("/etc/keepalived/keepalived.conf"); !ok {
					t.Fatal("no keepalived.conf in the bundle")
				}
				inNamespace(t, map[string]string{filepath.Join(root, "etc/keepalived"): "/etc/keepalived"},
					strings.Join(links, " && ")+" && keepalived -t -l -f /etc/keepalived/keepalived.conf")
			})
		}
	}
}

// TestCheckBIND checks named.conf and every zone with named-checkconf -z
// (chrooted into the rendered tree) and each zone with named-checkzone.
func TestCheckBIND(t *testing.T) {
	need(t, false, "named-checkconf", "named-checkzone")
	r := mustRenderer(t)
	for _, site := range []string{"paper", "staging"} {
		t.Run(site, func(t *testing.T) {
			plan := loadSite(t, site)
			in := realInputs(t, site)
			root, _ := writeRoot(t, r, plan, "admin01", in)
			v, err := newView(plan, mustNode(t, plan, "admin01"), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range v.DNS.Zones {
				out := check(t, "named-checkzone", "-k", "fail", "-n", "fail", z.Name, filepath.Join(root, z.File))
				if !strings.Contains(out, "OK") {
					t.Errorf("zone %s: %s", z.Name, out)
				}
			}
			if os.Geteuid() != 0 {
				t.Skip("named-checkconf -t (chroot) needs root")
			}
			if err := os.MkdirAll(filepath.Join(root, "var/cache/bind"), 0o755); err != nil {
				t.Fatal(err)
			}
			out := check(t, "named-checkconf", "-t", root, "-z", "/etc/bind/named.conf")
			if got := strings.Count(out, "loaded serial"); got != len(v.DNS.Zones) {
				t.Errorf("named-checkconf loaded %d zones, want %d:\n%s", got, len(v.DNS.Zones), out)
			}
		})
	}
}

// TestCheckGalera has mariadbd read each controller's galera.cnf
// (mariadbd --help --verbose parses every option and refuses unknown or
// invalid ones) and checks the wsrep settings it resolved.
func TestCheckGalera(t *testing.T) {
	need(t, false, "mariadbd")
	r := mustRenderer(t)
	plan := loadSite(t, "paper")
	in := realInputs(t, "paper")
	for _, n := range []string{"controller01", "controller02"} {
		t.Run(n, func(t *testing.T) {
			root, _ := writeRoot(t, r, plan, n, in)
			out := check(t, "mariadbd", "--defaults-file="+filepath.Join(root, "etc/my.cnf.d/galera.cnf"), "--help", "--verbose")
			for _, want := range []string{"wsrep-cluster-address", "gcomm://10.3.1.20,10.3.1.21,10.3.1.22", "binlog-format", "ROW"} {
				if !strings.Contains(out, want) {
					t.Errorf("mariadbd --help --verbose lacks %q", want)
				}
			}
		})
	}
}

// TestCheckOpenVPN has openvpn parse the server config (--show-ciphers
// parses every option, then exits before opening anything), then starts
// it for real in a throwaway network namespace whose loopback holds the
// admin node's Internet address, and waits for "Initialization Sequence
// Completed": certificates, key and tls-crypt key all loaded, tun opened
// inside the namespace only.
func TestCheckOpenVPN(t *testing.T) {
	need(t, true, "openvpn", "unshare", "ip")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	r := mustRenderer(t)
	plan := loadSite(t, "paper")
	in := realInputs(t, "paper")
	root, _ := writeRoot(t, r, plan, "admin01", in)
	v, err := newView(plan, mustNode(t, plan, "admin01"), in)
	if err != nil {
		t.Fatal(err)
	}
	binds := map[string]string{filepath.Join(root, "etc/openvpn/server"): "/etc/openvpn/server"}
	inNamespace(t, binds, "openvpn --config /etc/openvpn/server/provision.conf --show-ciphers >/dev/null")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	script := "mount --bind " + filepath.Join(root, "etc/openvpn/server") + " /etc/openvpn/server && mkdir -p /run/openvpn-server && " +
		"ip link set lo up && ip addr add " + v.VPN.Listen.String() + "/32 dev lo && exec openvpn --config /etc/openvpn/server/provision.conf"
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The server runs until killed; Wait reaps it when the test ends.
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var log []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "Initialization Sequence Completed") {
			return
		}
	}
	t.Fatalf("openvpn did not complete its initialisation:\n%s", strings.Join(log, "\n"))
}

// TestCheckScripts has bash parse every script of every bundle.
func TestCheckScripts(t *testing.T) {
	need(t, false, "bash")
	r := mustRenderer(t)
	in := fixedInputs()
	for _, site := range []string{"paper", "staging"} {
		plan := loadSite(t, site)
		for _, n := range plan.Nodes {
			b, err := r.Render(plan, n, in)
			if err != nil {
				t.Fatal(err)
			}
			scripts := map[string][]byte{"apply.sh": b.Apply}
			for _, f := range b.Files {
				if f.Mode&0o100 != 0 {
					scripts[f.Path] = f.Data
				}
			}
			for name, data := range scripts {
				cmd := exec.CommandContext(t.Context(), "bash", "-n")
				cmd.Stdin = strings.NewReader(string(data))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s/%s: %s: bash -n: %v\n%s", site, n.Name, name, err, out)
				}
			}
		}
	}
}
