package dhcp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/provision/provision/provision"
)

// Test MACs: compute01 PXE-boots from bios, controller01 from efi.
const (
	macCompute01    = "02:00:00:00:40:01"
	macController01 = "02:00:00:00:20:01"
	macUnknown      = "02:00:00:00:99:99"
)

// testPlan builds the paper's site with two nodes' em1 MACs known, from a
// copy in a temporary directory (the secrets file must be mode 0600, and
// git does not keep modes).
func testPlan(t testing.TB) *provision.Plan {
	t.Helper()
	return testPlanWith(t, map[string]map[string]string{
		"compute01":    {"em1": macCompute01},
		"controller01": {"em1": macController01},
	})
}

// testPlanWith builds the paper's site with the given MACs.
func testPlanWith(t testing.TB, macs map[string]map[string]string) *provision.Plan {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"paper.toml", "paper.secrets.toml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "sites", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site, probs := provision.Load(filepath.Join(dir, "paper.toml"))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	plan, probs := provision.Build(site, provision.Options{MACs: macs})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// testServer serves plan and collects its events.
func testServer(plan *provision.Plan) (*Server, *[]provision.Event) {
	var events []provision.Event
	s := &Server{
		Plan:   func() *provision.Plan { return plan },
		Events: func(e provision.Event) { events = append(events, e) },
	}
	return s, &events
}
