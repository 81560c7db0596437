package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision/provision/provision"
)

// TestRenderAndLint renders through the CLI as an operator would: one node
// to stdout (redacted, then with --show-secrets), every node to a
// directory, and lints what it wrote. The subtests share one state
// directory, so each node's keys are generated once.
func TestRenderAndLint(t *testing.T) {
	site := copySite(t, "paper")
	state := t.TempDir()
	sec, err := provision.LoadSecrets(filepath.Join(filepath.Dir(site), "paper.secrets.toml"))
	if err != nil {
		t.Fatal(err)
	}
	hash := sec.RootPasswordHash.Reveal()
	base := []string{"--site", site, "--state", state}

	t.Run("stdout redacted", func(t *testing.T) {
		r := runCLI(t, nil, "", append(base, "render", "kickstart", "compute01")...)
		if r.err != nil {
			t.Fatalf("render: %v\n%s", r.err, r.stderr)
		}
		for _, want := range []string{"network --device=bootif", "rootpw --iscrypted [redacted]", "TOKEN='[redacted]'", "ifcfg-bond0"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		if strings.Contains(r.stdout, hash) || strings.Contains(r.stdout, "PRIVATE KEY-----\nMII") {
			t.Errorf("redacted kickstart holds a secret")
		}
		lint := runCLI(t, nil, r.stdout, "lint", "-")
		if lint.code != 0 {
			t.Errorf("lint - of the redacted kickstart: exit %d\n%s", lint.code, lint.stdout)
		}
	})

	t.Run("stdout show-secrets", func(t *testing.T) {
		r := runCLI(t, nil, "", append(base, "render", "compute01", "--show-secrets")...)
		if r.err != nil {
			t.Fatalf("render: %v\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stdout, "rootpw --iscrypted "+hash+"\n") || !strings.Contains(r.stdout, "BEGIN RSA PRIVATE KEY") {
			t.Errorf("--show-secrets kickstart lacks the root hash or the host key")
		}
		if strings.Contains(r.stderr, hash) || !strings.Contains(r.stderr, "secrets") {
			t.Errorf("stderr should warn without the secret:\n%s", r.stderr)
		}
	})

	t.Run("out all", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ks")
		r := runCLI(t, nil, "", append(base, "render", "--out", out)...)
		if r.err != nil {
			t.Fatalf("render: %v\n%s", r.err, r.stderr)
		}
		if strings.Contains(r.stderr, hash) || strings.Contains(r.stdout, hash) {
			t.Errorf("render --out printed a secret")
		}
		ks, err := filepath.Glob(filepath.Join(out, "*.ks"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 26 {
			t.Fatalf("wrote %d kickstarts, want 26 (27 nodes, admin01 never installed)", len(ks))
		}
		if _, err := os.Stat(filepath.Join(out, "admin01.ks")); err == nil {
			t.Errorf("admin01.ks written: the appliance is never installed")
		}
		for _, f := range ks {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %o, want 0600", f, fi.Mode().Perm())
			}
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a directory of mode 0700", out, err)
		}
		data, err := os.ReadFile(filepath.Join(out, "compute01.ks"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "rootpw --iscrypted "+hash+"\n") {
			t.Errorf("written kickstart lacks the root hash its node needs")
		}
		cmdline, err := os.ReadFile(filepath.Join(out, "compute01.cmdline"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cmdline), "ksdevice=bootif") || !strings.Contains(string(cmdline), "/api/v1/nodes/compute01/kickstart") {
			t.Errorf("compute01.cmdline = %q", cmdline)
		}
		lint := runCLI(t, nil, "", append([]string{"lint"}, ks...)...)
		if lint.err != nil {
			t.Errorf("lint of every written kickstart: %v\n%s", lint.err, lint.stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"render", "nosuchnode"}, "not in the site: nosuchnode"},
			{[]string{"render", "admin01"}, "never installed"},
			{[]string{"render", "compute01", "compute02"}, "no --out"},
			{[]string{"render"}, "name a NODE"},
			{[]string{"render", "--all", "compute01"}, "--all and NODE"},
			{[]string{"render", "-o", t.TempDir(), "--show-secrets", "compute01"}, "--show-secrets is for printing"},
		} {
			r := runCLI(t, nil, "", append(base, tc.args...)...)
			if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Errorf("%v: exit %d, error %v; want exit 1 and %q", tc.args, r.code, r.err, tc.want)
			}
		}
	})
}

// TestLintCommand: problems are printed as FILE:LINE: message and make
// the exit status 1; clean files print nothing.
func TestLintCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join("..", "..", "kickstart", "testdata", "paper", "compute01.ks")
	bad := filepath.Join(dir, "bad.ks")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "zerombr\n", "zerombr yes\n", 1) + "%onerror\necho\n%end\n"
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "lint", good)
	if r.code != 0 || r.stdout != "" {
		t.Errorf("lint %s: exit %d, stdout %q; want 0 and nothing", good, r.code, r.stdout)
	}
	r = runCLI(t, nil, "", "lint", good, bad)
	if r.code != 1 {
		t.Fatalf("lint of a broken file: exit %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], bad+":") || !strings.Contains(lines[0], "zerombr takes no argument") ||
		!strings.Contains(lines[1], "%onerror does not exist in RHEL 6.5") {
		t.Errorf("lint output:\n%s", r.stdout)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "2 problems in 1 of 2 files") {
		t.Errorf("lint error = %v", r.err)
	}
	r = runCLI(t, nil, broken, "lint", "-")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "<stdin>:") {
		t.Errorf("lint -: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runCLI(t, nil, "", "lint", filepath.Join(dir, "missing.ks")); r.code != 1 {
		t.Errorf("lint of a missing file: exit %d, want 1", r.code)
	}
}

// TestRenderLintHelp: the help of both commands says what they do and
// names their flags.
func TestRenderLintHelp(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"render", []string{"--out", "--all", "--show-secrets", "0600", "[redacted]", "BOOTIF"}},
		{"lint", []string{"FILE:LINE", "bash -n", "--bondslaves", "%end", "standard input"}},
	} {
		r := runCLI(t, nil, "", tc.cmd, "--help")
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s --help lacks %q", tc.cmd, w)
			}
		}
	}
}
