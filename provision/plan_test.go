package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// planJSON is the plan as `provision plan --json` prints it, with the
// site file's (temporary) path left out.
func planJSON(t testing.TB, plan *Plan) []byte {
	t.Helper()
	p := *plan
	p.Site.File = ""
	out, err := json.MarshalIndent(&p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestPlanGolden(t *testing.T) {
	for _, name := range []string{"paper", "staging"} {
		t.Run(name, func(t *testing.T) {
			plan, probs := loadBuild(t, writeSite(t, name, exampleSite(t, name)))
			if err := probs.Err(); err != nil {
				t.Fatal(err)
			}
			got := planJSON(t, plan)
			golden := filepath.Join("testdata", name+".plan.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./provision -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("plan of %s differs from %s (-want +got):\n%s", name, golden, d)
			}
		})
	}
}

// TestTable4 checks the paper site's addresses against the paper's Table 4:
// every address on the interface the table puts it on.
func TestTable4(t *testing.T) {
	plan, probs := loadBuild(t, writeSite(t, "paper", exampleSite(t, "paper")))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node, iface, addr string
		tagged            bool
	}{
		{"admin01", "bond0", "10.3.1.10/24", false},
		{"admin01", "em4", "10.0.1.1/24", false},
		{"compute05", "bond0", "10.3.1.44/24", false},
		{"compute05", "bond2.104", "10.4.1.44/24", true},
		{"compute05", "bond3.105", "10.5.1.44/24", true},
		{"network01", "em3", "203.0.113.30/24", false},
		{"loadbalance01", "em3", "203.0.113.11/24", false},
		{"controller01", "bond0", "10.3.1.20/24", false},
		{"network01", "bond2.104", "10.4.1.30/24", true},
		{"blockstorage01", "bond3.105", "10.5.1.60/24", true},
		{"swiftproxy01", "bond2.106", "10.6.1.70/24", true},
		{"swiftstorage01", "bond2.106", "10.6.1.80/24", true},
		{"swiftstorage01", "bond3.107", "10.7.1.80/24", true},
	}
	for _, tt := range tests {
		n, ok := plan.Node(tt.node)
		if !ok {
			t.Errorf("no node %s", tt.node)
			continue
		}
		var found *Interface
		for i := range n.Interfaces {
			if n.Interfaces[i].Name == tt.iface {
				found = &n.Interfaces[i]
			}
		}
		if found == nil {
			t.Errorf("%s: no interface %s; has %v", tt.node, tt.iface, ifaceNames(n))
			continue
		}
		if got := found.Address.String(); got != tt.addr {
			t.Errorf("%s %s: address %s, want %s", tt.node, tt.iface, got, tt.addr)
		}
		if found.Tagged != tt.tagged {
			t.Errorf("%s %s: tagged %v, want %v", tt.node, tt.iface, found.Tagged, tt.tagged)
		}
	}
	// Every node but admin01 has its iDRAC on 10.0.1.0/24 and PXE-boots
	// on the management network from admin01.
	for _, n := range plan.Nodes {
		if n.Appliance {
			continue
		}
		if !strings.HasPrefix(n.IDRAC.Address.String(), "10.0.1.") {
			t.Errorf("%s: iDRAC %s not on 10.0.1.0/24", n.Name, n.IDRAC.Address)
		}
		if !strings.HasPrefix(n.PXE.Address.String(), "10.3.1.") {
			t.Errorf("%s: PXE address %s not on 10.3.1.0/24", n.Name, n.PXE.Address)
		}
	}
	if got := plan.Site.ApplianceAddr.String(); got != "10.3.1.10" {
		t.Errorf("appliance address %s, want 10.3.1.10", got)
	}
}

func ifaceNames(n *NodePlan) []string {
	var names []string
	for _, i := range n.Interfaces {
		names = append(names, i.Name)
	}
	return names
}

// TestSecretNeverPrinted runs a secret through every printer the code
// base uses.
func TestSecretNeverPrinted(t *testing.T) {
	const value = "$6$salt$very-secret-hash"
	s := NewSecret(value)
	creds := Credentials{User: "root", Password: NewSecret("c@lvin;$(rm -rf /)")}
	secrets := &Secrets{RootPasswordHash: s, IDRAC: creds, Extra: map[string]Secret{"k": s}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, secrets), fmt.Sprintf(verb, creds))
	}
	j, err := json.Marshal(secrets)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "secret", s, "creds", creds, "secrets", secrets)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s, "creds", creds)
	outs = append(outs, buf.String())

	for _, out := range outs {
		if strings.Contains(out, "very-secret") || strings.Contains(out, "c@lvin") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != value || creds.Password.Reveal() != "c@lvin;$(rm -rf /)" {
		t.Error("Reveal lost the value")
	}
}

// TestLoadedSecretsNeverPrinted loads the example secrets and prints the
// whole site and plan: the hash and iDRAC password must not appear.
func TestLoadedSecretsNeverPrinted(t *testing.T) {
	path := writeSite(t, "staging", exampleSite(t, "staging"))
	site, probs := Load(path)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	plan, _ := Build(site, Options{})
	hash := site.Secrets.RootPasswordHash.Reveal()
	pw := site.Secrets.IDRAC.Password.Reveal()
	if hash == "" || pw == "" {
		t.Fatal("example secrets are empty")
	}
	j, _ := json.Marshal(site)
	pj, _ := json.Marshal(plan)
	for _, out := range []string{fmt.Sprintf("%+v %#v", site, site.Secrets), string(j), string(pj)} {
		if strings.Contains(out, hash) || strings.Contains(out, pw) {
			t.Errorf("a secret was printed")
		}
	}
}

// FuzzParse feeds arbitrary text to the site parser and planner: they
// may report problems but never panic.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"paper", "staging"} {
		data, err := os.ReadFile(filepath.Join("..", "sites", name+".toml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[site]\nname = \"a\"\nx = 300\n[[node]]\nname = \"n\"\nhost = -1\n"))
	f.Add([]byte("[[network]]\ncidr = \"10.x.x.0/33\"\n[[vip]]\naddress = \"::1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		site, probs := Parse("fuzz.toml", data)
		for _, p := range probs {
			_ = p.Error()
		}
		if site == nil || probs.Err() != nil {
			return
		}
		plan, more := Build(site, Options{})
		if more.Err() == nil && plan == nil {
			t.Fatal("no errors and no plan")
		}
	})
}

// bigSite is the paper site with /16 networks and n more compute nodes.
func bigSite(t testing.TB, n int) string {
	s := exampleSite(t, "paper")
	for _, net := range []string{"0", "3", "4", "5", "6", "7"} {
		s = strings.Replace(s, `cidr = "10.`+net+`.x.0/24"`, `cidr = "10.`+net+`.0.0/16"`, 1)
	}
	var b strings.Builder
	b.WriteString(s)
	for i := range n {
		fmt.Fprintf(&b, "\n[[node]]\nname = \"c%05d\"\nroles = [\"compute\"]\nrack = \"x%03d\"\nunit = %d\nhost = %d\n",
			i, i/40, i%40+1, 2000+i)
	}
	return b.String()
}

func TestBigSite(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	plan, probs := loadBuild(t, writeSite(t, "paper", bigSite(t, 500)))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	if got := len(plan.Nodes); got != 527 {
		t.Fatalf("%d nodes, want 527", got)
	}
	if n, ok := plan.Node("c00499"); !ok || n.PXE.Address.String() != "10.3.9.195" {
		t.Fatalf("c00499: %+v", n)
	}
}

// BenchmarkLoadBuild10k loads and plans a site of 10,027 nodes. Target:
// well under a second and 300 MB.
func BenchmarkLoadBuild10k(b *testing.B) {
	path := writeSite(b, "paper", bigSite(b, 10000))
	b.ReportAllocs()
	for b.Loop() {
		site, probs := Load(path)
		if err := probs.Err(); err != nil {
			b.Fatal(err)
		}
		plan, more := Build(site, Options{})
		if err := more.Err(); err != nil {
			b.Fatal(err)
		}
		if len(plan.Nodes) != 10027 {
			b.Fatal(len(plan.Nodes))
		}
	}
}

// TestNodeByMAC finds a node by any of its MACs, from the site file or
// discovered over its iDRAC.
func TestNodeByMAC(t *testing.T) {
	text := inNode("compute05", `macs = { em1 = "52:54:00:aa:bb:01" }`)(t, exampleSite(t, "paper"))
	site, probs := Load(writeSite(t, "paper", text))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	plan, probs := Build(site, Options{MACs: map[string]map[string]string{"compute06": {"em2": "52-54-00-AA-BB-02"}}})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	for mac, want := range map[string]string{"52:54:00:aa:bb:01": "compute05", "52:54:00:aa:bb:02": "compute06"} {
		hw, _ := net.ParseMAC(mac)
		if n, ok := plan.NodeByMAC(hw); !ok || n.Name != want {
			t.Errorf("NodeByMAC(%s) = %v, %v; want %s", mac, n, ok, want)
		}
	}
	hw, _ := net.ParseMAC("52:54:00:aa:bb:03")
	if _, ok := plan.NodeByMAC(hw); ok {
		t.Error("an unknown MAC found a node")
	}
}
