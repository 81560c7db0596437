package kickstart

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

// exampleSites are the example sites every golden test covers.
var exampleSites = []string{"paper", "staging"}

// loadSite loads sites/NAME.toml from a private copy (the secrets file must
// be mode 0600, which git does not keep).
func loadSite(tb testing.TB, name string) *provision.Plan {
	tb.Helper()
	return buildSite(tb, sitetest.Copy(tb, name))
}

func buildSite(tb testing.TB, path string) *provision.Plan {
	tb.Helper()
	site, probs := provision.Load(path)
	if errs := probs.Errors(); len(errs) > 0 {
		tb.Fatalf("load %s: %v", path, errs)
	}
	plan, probs := provision.Build(site, provision.Options{})
	if errs := probs.Errors(); len(errs) > 0 {
		tb.Fatalf("build %s: %v", path, errs)
	}
	plan.Site.File = filepath.Base(path)
	return plan
}

// fakeInputs are fixed inputs, so golden files do not change from run to
// run. The keys are not keys: only their place in the file matters here.
func fakeInputs(node string) Inputs {
	return Inputs{
		RootPasswordHash: provision.NewSecret("$6$fakesalt$fakehashfakehashfakehash"),
		AuthorizedKeys: []string{
			"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQfakeoperator operator@example",
			"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQfakeappliance provision-appliance",
		},
		HostKeys: []HostKey{
			{Type: "rsa", Private: provision.NewSecret("-----BEGIN RSA PRIVATE KEY-----\nFAKE-RSA-" + node + "\n-----END RSA PRIVATE KEY-----\n"),
				Public: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABfake" + strings.ReplaceAll(node, "-", "") + " root@" + node},
			{Type: "ecdsa", Private: provision.NewSecret("-----BEGIN EC PRIVATE KEY-----\nFAKE-ECDSA-" + node + "\n-----END EC PRIVATE KEY-----\n"),
				Public: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYfake" + node + " root@" + node},
		},
		Token: provision.NewSecret("token-" + node),
	}
}
