package httpd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// uploadShell is the shell of the rendered kickstart's log upload
// section (%post --nochroot) up to its upload_logs call, with the node's
// real token in place of the redacted one.
func uploadShell(t *testing.T, plan *provision.Plan, tok string) string {
	t.Helper()
	node, ok := plan.Node(nodeName)
	if !ok {
		t.Fatal("no " + nodeName)
	}
	ks, err := kickstart.Render(plan, node, kickstart.Inputs{Redact: true, AuthorizedKeys: []string{"ssh-rsa AAAAB3Nza test"}})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(ks), "\n%post --nochroot\n")
	if !ok {
		t.Fatal("the kickstart has no nochroot post section")
	}
	body, _, ok := strings.Cut(sec, "\nupload_logs /tmp/anaconda.log")
	if !ok {
		t.Fatalf("the %%post --nochroot does not upload anaconda.log:\n%s", sec)
	}
	if !strings.Contains(body, "TOKEN='[redacted]'") {
		t.Fatalf("no redacted token in:\n%s", body)
	}
	return strings.Replace(body, "TOKEN='[redacted]'", "TOKEN='"+tok+"'", 1)
}

// TestKickstartUploadsLogs runs the kickstart's own upload functions in
// bash, with curl bound to the node's address: the logs are kept, a log
// over MaxLogBytes is sent as its last MaxLogBytes, and refused uploads
// neither fail the script nor set off %post's ERR trap.
func TestKickstartUploadsLogs(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian: curl)")
	}
	base, dir, keys, ev := startLogs(t)
	tok, err := keys.Token(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(t, base)
	// curl as the node: from its address.
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nexec " + realCurl + " --interface " + nodeAddr + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcde\n"), kickstart.MaxLogBytes/16+1000)
	files := map[string][]byte{
		"anaconda.log":         []byte("INFO: ks=" + base + "/ks/compute01?token=" + tok + "\n"),
		"ks-script-aB3xYz.log": []byte("script output\n"),
		"program.log":          big,
		"empty.log":            nil,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(logs, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(script string) (string, error) {
		cmd := exec.CommandContext(t.Context(), bash, "-c", script)
		cmd.Dir = logs
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	shell := uploadShell(t, plan, tok)
	out, err := run(shell + "\nupload_logs anaconda.log ks-script-aB3xYz.log program.log empty.log missing.log /nonexistent/ks-script-*.log\n")
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	for name, sent := range files {
		got, err := os.ReadFile(filepath.Join(dir, nodeName, name))
		switch {
		case len(sent) == 0:
			if err == nil {
				t.Errorf("%s: an empty log was uploaded", name)
			}
		case err != nil:
			t.Errorf("%s: %v\n%s", name, err, out)
		case name == "program.log":
			if len(got) != kickstart.MaxLogBytes || !bytes.Equal(got, sent[len(sent)-kickstart.MaxLogBytes:]) {
				t.Errorf("program.log: kept %d bytes, want its last %d", len(got), kickstart.MaxLogBytes)
			}
		case name == "anaconda.log":
			if strings.Contains(string(got), tok) || !strings.Contains(string(got), "token=[token]") {
				t.Errorf("anaconda.log kept as %q", got)
			}
		default:
			if !bytes.Equal(got, sent) {
				t.Errorf("%s kept as %q", name, got)
			}
		}
	}
	kinds := map[string]string{}
	for _, e := range ev.list() {
		if e.Kind == KindLog {
			kinds[e.Attrs["file"]] = e.Attrs["bytes"]
		}
	}
	if len(kinds) != 3 || kinds["program.log"] != strconv.Itoa(kickstart.MaxLogBytes) {
		t.Errorf("log events %v", kinds)
	}

	// Refused (a wrong token): the script goes on, the ERR trap stays quiet.
	bad := strings.Replace(shell, "TOKEN='"+tok+"'", "TOKEN='wrong'", 1)
	out, err = run("set -o errtrace\ntrap 'echo TRAPPED; exit 3' ERR\n" + bad + "\nupload_logs anaconda.log program.log\nupload_log ks-script-aB3xYz.log || echo not-taken\necho finished\n")
	if err != nil || strings.Contains(out, "TRAPPED") || !strings.Contains(out, "not-taken") || !strings.Contains(out, "finished") {
		t.Errorf("refused uploads: err %v\n%s", err, out)
	}
	if n := strings.Count(out, "could not upload"); n != 2 {
		t.Errorf("%d failures reported, want 2 (upload_logs stops at the first):\n%s", n, out)
	}
}
