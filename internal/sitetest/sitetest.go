// Package sitetest gives tests the example sites of sites/ and their
// plans. Only tests import it; it imports nothing of the appliance's, so
// that any package's own tests can.
//
// git does not keep file modes, and the site loader refuses a secrets
// file others can read: Copy writes the site with its secrets 0600 to a
// temporary directory.
package sitetest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/provision/provision/provision"
)

// Copy copies sites/NAME.toml and its secrets (0600) to a temporary
// directory and returns the site file's path there.
func Copy(t testing.TB, name string) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("sitetest: cannot locate the sites directory")
	}
	sites := filepath.Join(filepath.Dir(self), "..", "..", "sites")
	dir := t.TempDir()
	for _, f := range []string{name + ".toml", name + ".secrets.toml"} {
		data, err := os.ReadFile(filepath.Join(sites, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, name+".toml")
}

// Plan builds the plan of sites/NAME.toml with the given discovered MACs
// (by node and NIC; nil for none).
func Plan(t testing.TB, name string, macs map[string]map[string]string) *provision.Plan {
	t.Helper()
	site, probs := provision.Load(Copy(t, name))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	plan, probs := provision.Build(site, provision.Options{MACs: macs})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
