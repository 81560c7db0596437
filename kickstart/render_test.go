package kickstart

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden renders every installable node of both example sites and
// compares it with testdata/SITE/NODE.ks.
func TestGolden(t *testing.T) {
	for _, site := range exampleSites {
		plan := loadSite(t, site)
		for _, node := range plan.Nodes {
			if node.Appliance {
				continue
			}
			t.Run(site+"/"+node.Name, func(t *testing.T) {
				got, err := Render(plan, node, fakeInputs(node.Name))
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", site, node.Name+".ks")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./kickstart -update)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got); run go test ./kickstart -update if intended:\n%s", path, diff)
				}
			})
		}
	}
}

// TestApplianceRefused: admin01 runs the appliance and is never installed.
func TestApplianceRefused(t *testing.T) {
	plan := loadSite(t, "paper")
	n, _ := plan.Node("admin01")
	_, err := Render(plan, n, fakeInputs("admin01"))
	if !errors.Is(err, ErrAppliance) {
		t.Fatalf("Render(admin01) error = %v, want ErrAppliance", err)
	}
	if _, err := KernelArgs(plan, n); !errors.Is(err, ErrAppliance) {
		t.Fatalf("KernelArgs(admin01) error = %v, want ErrAppliance", err)
	}
}

// TestRedact: a redacted kickstart holds no secret of the inputs.
func TestRedact(t *testing.T) {
	plan := loadSite(t, "paper")
	n, _ := plan.Node("compute01")
	in := fakeInputs(n.Name)
	in.Redact = true
	got, err := Render(plan, n, in)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{in.RootPasswordHash.Reveal(), in.Token.Reveal()}
	for _, k := range in.HostKeys {
		secrets = append(secrets, strings.TrimSpace(k.Private.Reveal()))
	}
	for _, s := range secrets {
		if bytes.Contains(got, []byte(s)) {
			t.Errorf("redacted kickstart contains a secret (%d bytes)", len(s))
		}
	}
	if !bytes.Contains(got, []byte(in.HostKeys[0].Public)) {
		t.Errorf("redacted kickstart lost the public host key")
	}
}
