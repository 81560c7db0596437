package simnode

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/kickstart"
)

// renderKickstart renders a node's kickstart of the paper site with keys
// from a temporary key store.
func renderKickstart(t *testing.T, name string) ([]byte, *hostkeys.Store) {
	t.Helper()
	plan, site := loadPlan(t)
	node, ok := plan.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	keys, err := hostkeys.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in, err := keys.KickstartInputs(name, site.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kickstart.Render(plan, node, in)
	if err != nil {
		t.Fatal(err)
	}
	return ks, keys
}

func testNode(t *testing.T, root string, f Faults) *node {
	t.Helper()
	mac, _ := net.ParseMAC(nodeMAC)
	cfg, err := Config{Node: nodeName, MAC: mac, Interface: nodeIf, RootDir: root, Faults: f}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &node{cfg: cfg}
}

// TestPreChecks: %pre's checks of compute01's kickstart against the
// simulated machine, in the script's own words.
func TestPreChecks(t *testing.T) {
	ks, _ := renderKickstart(t, nodeName)
	parsed := parseKickstart(ks)
	if parsed.eventsURL != "http://10.3.1.10/api/v1/nodes/compute01/events" || parsed.token == "" {
		t.Errorf("report function: url %q, token set %v", parsed.eventsURL, parsed.token != "")
	}
	checks := parsePre(parsed.pre)
	if len(checks.disks) != 4 || checks.diskCount != 4 || len(checks.nics) != 8 {
		t.Fatalf("checks: %d disks, count %d, %d NICs", len(checks.disks), checks.diskCount, len(checks.nics))
	}
	tests := []struct {
		name   string
		faults Faults
		disks  []Disk
		nics   map[string]string
		want   []string
	}{
		{"as planned", Faults{}, nil, nil, nil},
		{"missing sdb", Faults{MissingDisk: "sdb"}, nil, nil,
			[]string{"disk sdb (slot 1 120GB ssd) is missing", "found 3 fixed disks, the plan expects 4"}},
		{"small disk and a USB stick", Faults{}, []Disk{
			{Name: "sda", Sectors: 234375000}, {Name: "sdb", Sectors: 234375000},
			{Name: "sdc", Sectors: 1000}, {Name: "sdd", Sectors: 1562500000}, {Name: "sde", Sectors: 100, Removable: true}}, nil,
			[]string{"disk sdc (slot 2 800GB ssd) has 1000 sectors, the plan expects 1484375000 to 1640625000"}},
		{"NIC missing", Faults{}, nil, map[string]string{"em1": nodeMAC, "em2": "", "em3": "", "em4": "", "p1p1": "", "p1p2": "", "p2p1": ""},
			[]string{"NIC p2p2 is missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNode(t, t.TempDir(), tt.faults)
			n.cfg.Disks, n.cfg.NICs = tt.disks, tt.nics
			if d := cmp.Diff(tt.want, n.checkMachine(checks)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
	if want := "not the machine the plan describes, no disk touched: $problems"; checks.failMsg != want {
		t.Errorf("refusal message %q", checks.failMsg)
	}
}

// TestPostFiles: %post of compute01's kickstart, applied under a root,
// writes its network files, host keys and authorized_keys with their
// modes, and reports in the script's order.
func TestPostFiles(t *testing.T) {
	ks, keys := renderKickstart(t, nodeName)
	steps, err := parsePost(parseKickstart(ks).post)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var reports []string
	for _, s := range steps {
		if s.report != nil {
			reports = append(reports, s.report.state+": "+s.report.msg)
			continue
		}
		if err := apply(r, *s.op); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff([]string{"installing: configuring compute01", "installed: compute01 installed, rebooting"}, reports); d != "" {
		t.Errorf("reports (-want +got):\n%s", d)
	}
	pairs, err := keys.HostKeys(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		"etc/ssh/ssh_host_rsa_key": 0o600, "etc/ssh/ssh_host_rsa_key.pub": 0o644, "root/.ssh": 0o700 | os.ModeDir,
		"root/.ssh/authorized_keys": 0o600, "etc/sysconfig/network-scripts/ifcfg-bond0": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want mode %v", path, fi, err, want)
		}
	}
	got, _ := os.ReadFile(filepath.Join(root, "etc/ssh/ssh_host_rsa_key"))
	if string(got) != string(pairs[0].Private) {
		t.Error("installed RSA host key differs")
	}

	nc, err := readNetConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, c := range nc.ordered() {
		d := c.kind + " " + c.device
		if c.master != "" {
			d += " in " + c.master
		}
		if c.addr.IsValid() {
			d += " " + c.addr.String()
		}
		devs = append(devs, d)
	}
	want := []string{"ethernet em1 in bond0", "ethernet em2 in bond0", "ethernet p1p1 in bond2", "ethernet p1p2 in bond3",
		"ethernet p2p1 in bond2", "ethernet p2p2 in bond3", "bond bond0 10.3.1.40/24", "bond bond2", "bond bond3",
		"vlan bond2.104 10.4.1.40/24", "vlan bond3.105 10.5.1.40/24"}
	if d := cmp.Diff(want, devs); d != "" {
		t.Errorf("devices (-want +got):\n%s", d)
	}
	if nc.gateway != netip.MustParseAddr("10.3.1.10") || nc.gatewayDev != "bond0" {
		t.Errorf("gateway %s dev %s", nc.gateway, nc.gatewayDev)
	}
	if got := strings.Join(bondArgs("mode=802.3ad miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4 bogus=1"), " "); got != "mode 802.3ad miimon 100 lacp_rate fast xmit_hash_policy layer3+4" {
		t.Errorf("bond args %q", got)
	}
}

// TestPostRefusesEscapes: a path with .. stays inside the root.
func TestPostRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = apply(r, fileOp{kind: "write", path: "/../../escape", content: "x", mode: 0o644})
	if _, serr := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(root)), "escape")); serr == nil {
		t.Fatalf("a file escaped the root (apply: %v)", err)
	}
}

// TestInstallFrom: a kickstart a VM's installer left on its disk lays
// down the same files as the simulated installer's %post, over what an
// earlier install left, and marks the disk installed.
func TestInstallFrom(t *testing.T) {
	ks, keys := renderKickstart(t, nodeName)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc", "stale"), 0o755)
	mac, _ := net.ParseMAC(nodeMAC)
	cfg := Config{Node: nodeName, MAC: mac, Interface: nodeIf, RootDir: root}
	if err := InstallFrom(cfg, ks); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "stale")); !os.IsNotExist(err) {
		t.Errorf("the earlier install's files are still there: %v", err)
	}
	pairs, err := keys.HostKeys(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "etc/ssh/ssh_host_rsa_key"))
	if string(got) != string(pairs[0].Private) {
		t.Error("installed RSA host key differs")
	}
	if _, err := os.Stat(testNode(t, root, Faults{}).installedMarker()); err != nil {
		t.Errorf("installed marker: %v", err)
	}
	if err := InstallFrom(Config{Node: nodeName, MAC: mac, Interface: nodeIf, RootDir: "rel"}, ks); err == nil {
		t.Error("a relative root dir was taken")
	}
}
