package profiles

import (
	"fmt"
	"testing"

	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

// loadSite loads an example site and builds its plan.
func loadSite(t testing.TB, name string) *provision.Plan {
	t.Helper()
	return sitetest.Plan(t, name, nil)
}

// fixedInputs are deterministic inputs for golden files: every secret is
// "test-NAME", the PKI placeholders.
func fixedInputs() Inputs {
	m := map[string]string{}
	for _, n := range Names() {
		m[n] = "test-" + n
	}
	m["vrrp"] = "testvrrp"
	return Inputs{
		Secrets: NewSecrets(m),
		VPN: &VPNServer{
			CACert:   []byte("-----BEGIN CERTIFICATE-----\ntest CA\n-----END CERTIFICATE-----\n"),
			Cert:     []byte("-----BEGIN CERTIFICATE-----\ntest server\n-----END CERTIFICATE-----\n"),
			Key:      provision.NewSecret("-----BEGIN EC PRIVATE KEY-----\ntest key\n-----END EC PRIVATE KEY-----\n"),
			TLSCrypt: provision.NewSecret("-----BEGIN OpenVPN Static key V1-----\ntest\n-----END OpenVPN Static key V1-----\n"),
		},
		Serial: 2026112501,
	}
}

func mustRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustNode(t testing.TB, plan *provision.Plan, name string) *provision.NodePlan {
	t.Helper()
	n, ok := plan.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	return n
}

// fmtAll formats v every way a log line or error might.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %s %q %#v %+v", v, v, v, v, v)
}
