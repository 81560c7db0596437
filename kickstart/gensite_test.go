package kickstart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision/provision/provision"
)

// generatedSite writes a site of n extra nodes beside the paper site's
// own: the paper site with its /24 networks widened to /16 (the x octet
// becomes 0), and nodes compute-N, swift-N and block-N in turn at host
// numbers from 1000 up. It returns the site's plan.
func generatedSite(tb testing.TB, n int) *provision.Plan {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "sites", "paper.toml"))
	if err != nil {
		tb.Fatal(err)
	}
	site := strings.ReplaceAll(string(src), "x.0/24", "0.0/16")
	site = strings.ReplaceAll(site, ".x.", ".0.")
	site = strings.Replace(site, "x = 1\n", "x = 0\n", 1)
	var b strings.Builder
	b.WriteString(site)
	roles := []struct{ prefix, role string }{{"compute", "compute"}, {"swift", "swiftstorage"}, {"block", "blockstorage"}}
	for i := range n {
		r := roles[i%len(roles)]
		fmt.Fprintf(&b, "\n[[node]]\nname = \"%s%05d\"\nroles = [%q]\nhost = %d\n", r.prefix, i, r.role, 1000+i)
	}
	path := filepath.Join(dir, "gen.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	sec, err := os.ReadFile(filepath.Join("..", "sites", "paper.secrets.toml"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "paper.secrets.toml"), sec, 0o600); err != nil {
		tb.Fatal(err)
	}
	return buildSite(tb, path)
}

// TestGeneratedSite: the generated site builds, and a sample of its
// kickstarts renders and lints clean.
func TestGeneratedSite(t *testing.T) {
	plan := generatedSite(t, 30)
	if len(plan.Nodes) != 27+30 {
		t.Fatalf("%d nodes, want %d", len(plan.Nodes), 27+30)
	}
	for _, n := range plan.Nodes[len(plan.Nodes)-3:] {
		ks, err := Render(plan, n, fakeInputs(n.Name))
		if err != nil {
			t.Fatal(err)
		}
		probs, err := Lint(t.Context(), n.Name+".ks", ks)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range probs {
			t.Error(p)
		}
	}
}
