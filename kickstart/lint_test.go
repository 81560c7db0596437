package kickstart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintGolden: every golden kickstart of both example sites lints
// clean, so what the appliance serves is what CentOS 6.5 accepts.
func TestLintGolden(t *testing.T) {
	for _, site := range exampleSites {
		files, err := filepath.Glob(filepath.Join("testdata", site, "*.ks"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no golden kickstarts for %s (run go test ./kickstart -update)", site)
		}
		for _, f := range files {
			t.Run(site+"/"+filepath.Base(f), func(t *testing.T) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				probs, err := Lint(t.Context(), f, data)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range probs {
					t.Error(p)
				}
			})
		}
	}
}

// TestLintRendered lints what Render returns, redacted or not, for every
// node: a redacted kickstart is what an operator reads and must lint too.
func TestLintRendered(t *testing.T) {
	for _, site := range exampleSites {
		plan := loadSite(t, site)
		for _, node := range plan.Nodes {
			if node.Appliance {
				continue
			}
			for _, redact := range []bool{false, true} {
				in := fakeInputs(node.Name)
				in.Redact = redact
				ks, err := Render(plan, node, in)
				if err != nil {
					t.Fatal(err)
				}
				probs, err := Lint(t.Context(), node.Name+".ks", ks)
				if err != nil {
					t.Fatal(err)
				}
				if len(probs) > 0 {
					var b strings.Builder
					for _, p := range probs {
						b.WriteString(p.String() + "\n")
					}
					t.Errorf("%s/%s (redact=%t):\n%s", site, node.Name, redact, b.String())
				}
			}
		}
	}
}

// lintString lints a kickstart held in a string and returns its problems
// as file:line: message strings.
func lintString(t *testing.T, ks string) []string {
	t.Helper()
	probs, err := Lint(t.Context(), "t.ks", []byte(ks))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range probs {
		out = append(out, p.String())
	}
	return out
}
