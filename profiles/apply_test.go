package profiles

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// preamble returns apply.sh's helper functions: everything before its
// first step (the log line naming the node).
func preamble(t *testing.T, b Bundle) string {
	t.Helper()
	s := string(b.Apply)
	i := strings.Index(s, "\nlog \""+b.Node+": ")
	if i < 0 {
		t.Fatal("apply.sh has no first step")
	}
	return s[:i+1]
}

// TestApplyHelpersIdempotent runs the CentOS apply.sh's helpers in bash
// with yum's, chkconfig's, service's and openstack-config's places taken
// by shell functions that record what they are asked: a second run of the
// same steps installs, sets and restarts nothing.
func TestApplyHelpersIdempotent(t *testing.T) {
	need(t, false, "bash", "install", "cmp")
	if os.Geteuid() != 0 {
		t.Skip("put chowns to root: needs root")
	}
	plan := loadSite(t, "paper")
	b, err := mustRenderer(t).Render(plan, mustNode(t, plan, "controller02"), fixedInputs())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "node", "etc", "demo.conf")
	if err := os.MkdirAll(filepath.Join(dir, "bundle", "files", filepath.Dir(target)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle", "files", target), []byte("demo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stubs := `
calls=` + filepath.Join(dir, "calls") + `
ini=` + filepath.Join(dir, "ini") + `
touch "$ini"
rpm() { return 1; }
yum() { echo "yum $*" >>"$calls"; }
chkconfig() { :; }
service() {
	case $2 in
	status) [ -f "` + dir + `/running-$1" ] ;;
	start|restart) echo "service $1 $2" >>"$calls"; touch "` + dir + `/running-$1" ;;
	esac
}
openstack-config() {
	case $1 in
	--get) awk -v k="$2|$3|$4" -F'=' '$1 == k {print $2; f=1} END {exit !f}' "$ini" ;;
	--set) grep -v "^$2|$3|$4=" "$ini" >"$ini.new" || true; echo "$2|$3|$4=$5" >>"$ini.new"; mv "$ini.new" "$ini"; echo "set $3 $4" >>"$calls" ;;
	esac
}
`
	steps := `
put 0640 root:root ` + target + `
osc /etc/x.conf DEFAULT key value
svc demo ` + target + ` /etc/x.conf
echo "changed:$CHANGED" >>"$calls"
`
	run := func() string {
		t.Helper()
		script := strings.Replace(preamble(t, b), `BUNDLE=$(cd "$(dirname "$0")" && pwd)`, "BUNDLE="+filepath.Join(dir, "bundle"), 1)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", script+stubs+steps)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		os.Remove(filepath.Join(dir, "calls"))
		return string(calls)
	}
	first := run()
	for _, want := range []string{"set DEFAULT key", "service demo restart", "changed: " + target + " /etc/x.conf "} {
		if !strings.Contains(first, want) {
			t.Errorf("first run lacks %q:\n%s", want, first)
		}
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("installed file: %v", err)
	}
	if second := run(); second != "changed: \n" {
		t.Errorf("second run did something:\n%s", second)
	}
}
