package profiles

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// realInputs are inputs with generated secrets and a real PKI, as the
// appliance makes them.
func realInputs(t *testing.T, site string) Inputs {
	t.Helper()
	state := t.TempDir()
	sec, err := LoadSecrets(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	pki, err := OpenPKI(state, site, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Inputs{Secrets: sec, VPN: pki.Server(), Serial: uint32(time.Now().Unix())}
}

// writeRoot renders a node's bundle and writes its files under a new
// directory as they would lie on the node (root/etc/...), with their
// install modes. It returns the directory and the bundle.
func writeRoot(t *testing.T, r *Renderer, plan *provision.Plan, node string, in Inputs) (string, Bundle) {
	t.Helper()
	n, ok := plan.Node(node)
	if !ok {
		t.Fatalf("no node %s", node)
	}
	b, err := r.Render(plan, n, in)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, f := range b.Files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	return root, b
}

// need skips the test when a checker is not installed (make deps
// installs them) or, for checkers run in namespaces, when not root.
func need(t *testing.T, root bool, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it): %v", tool, err)
		}
	}
	if root && os.Geteuid() != 0 {
		t.Skip("needs root for a mount and network namespace (unshare)")
	}
}

// check runs a checker and fails the test with its output on a non-zero
// exit.
func check(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNamespace runs script with sh in new mount and network namespaces:
// binds mounts DIR onto /PATH for each dir -> path, so a checker reads the
// rendered files at the absolute paths they name.
func inNamespace(t *testing.T, binds map[string]string, script string) string {
	t.Helper()
	var pre strings.Builder
	for src, dst := range binds {
		pre.WriteString("mkdir -p " + dst + " && mount --bind " + src + " " + dst + " && ")
	}
	return check(t, "unshare", "--net", "--mount", "sh", "-c", pre.String()+script)
}
