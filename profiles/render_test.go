package profiles

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden renders every node's bundle of both example sites with fixed
// inputs and compares each file with testdata/SITE/NODE/.
func TestGolden(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"paper", "staging"} {
		plan := loadSite(t, site)
		for _, n := range plan.Nodes {
			t.Run(site+"/"+n.Name, func(t *testing.T) {
				b, err := r.Render(plan, n, fixedInputs())
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join("testdata", site, n.Name)
				if *update {
					if err := os.RemoveAll(dir); err != nil {
						t.Fatal(err)
					}
				}
				for _, f := range b.Tree() {
					path := filepath.Join(dir, filepath.FromSlash(f.Name))
					if *update {
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, f.Data, 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run go test ./profiles -update)", err)
					}
					if d := cmp.Diff(string(want), string(f.Data)); d != "" {
						t.Errorf("%s (-golden +rendered):\n%s", f.Name, d)
					}
				}
			})
		}
	}
}

// TestRenderSecretsStayInFiles checks that apply.sh holds no secret and
// that every file holding one is marked Secret.
func TestRenderSecretsStayInFiles(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	in := fixedInputs()
	for _, site := range []string{"paper", "staging"} {
		plan := loadSite(t, site)
		for _, n := range plan.Nodes {
			b, err := r.Render(plan, n, in)
			if err != nil {
				t.Fatalf("%s: %v", n.Name, err)
			}
			if bytes.Contains(b.Apply, []byte("test-")) || bytes.Contains(b.Apply, []byte("testvrrp")) {
				t.Errorf("%s/%s: apply.sh holds a secret", site, n.Name)
			}
			for _, f := range b.Files {
				s := string(f.Data)
				holds := strings.Contains(s, "test-") || strings.Contains(s, "testvrrp") || strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "Static key")
				if holds && !f.Secret {
					t.Errorf("%s/%s: %s holds a secret but is not marked Secret", site, n.Name, f.Path)
				}
				if f.Secret && f.Mode&0o007 != 0 {
					t.Errorf("%s/%s: secret %s has mode %04o", site, n.Name, f.Path, f.Mode)
				}
			}
		}
	}
}

// BenchmarkRenderSite renders every node's bundle of the paper site (27
// nodes) per iteration.
func BenchmarkRenderSite(b *testing.B) {
	r := mustRenderer(b)
	plan := loadSite(b, "paper")
	in := fixedInputs()
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range plan.Nodes {
			if _, err := r.Render(plan, n, in); err != nil {
				b.Fatal(err)
			}
		}
	}
}
