package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderProfile writes a bundle through the CLI: apply.sh and every
// file under files/, secrets mode 0600; the kickstart render beside it is
// untouched.
func TestRenderProfile(t *testing.T) {
	site := copySite(t, "paper")
	state := t.TempDir()
	out := filepath.Join(t.TempDir(), "lb01")
	r := runCLI(t, nil, "", "--site", site, "--state", state, "render", "profile", "loadbalance01", "--out", out)
	if r.err != nil {
		t.Fatalf("render profile: %v\n%s", r.err, r.stderr)
	}
	for name, mode := range map[string]os.FileMode{
		"apply.sh":                              0o700,
		"files/etc/haproxy/haproxy.cfg":         0o600,
		"files/etc/keepalived/keepalived.conf":  0o600,
		"files/etc/keepalived/check_haproxy.sh": 0o755,
		"files/etc/hosts":                       0o644,
	} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o, want %04o", name, fi.Mode().Perm(), mode)
		}
	}
	if !strings.Contains(r.stdout, filepath.Join(out, "apply.sh")) {
		t.Errorf("stdout does not list apply.sh:\n%s", r.stdout)
	}
	// Secrets were generated once, kept 0600, and never printed.
	fi, err := os.Stat(filepath.Join(state, "profiles", "secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated secrets: %v", err)
	}
	keep, _ := os.ReadFile(filepath.Join(out, "files/etc/keepalived/keepalived.conf"))
	if strings.Contains(r.stdout+r.stderr, "auth_pass") || !strings.Contains(string(keep), "auth_pass") {
		t.Errorf("keepalived.conf lacks auth_pass, or the output shows it")
	}
	again := runCLI(t, nil, "", "--site", site, "--state", state, "render", "profile", "loadbalance01", "--out", out)
	keep2, _ := os.ReadFile(filepath.Join(out, "files/etc/keepalived/keepalived.conf"))
	if again.err != nil || string(keep) != string(keep2) {
		t.Errorf("a second render changed the secrets: %v", again.err)
	}
	if ks := runCLI(t, nil, "", "--site", site, "--state", state, "render", "kickstart", "compute01"); ks.err != nil {
		t.Errorf("render kickstart beside render profile: %v", ks.err)
	}
}

// TestProfileDryRun prints what a re-run would do without touching
// anything: remotely (host key fingerprints, files) and locally.
func TestProfileDryRun(t *testing.T) {
	site := copySite(t, "paper")
	base := []string{"--site", site, "--state", t.TempDir()}
	tests := []struct {
		name string
		args []string
		want []string
		err  string
	}{
		{"remote", []string{"profile", "controller02", "--dry-run"},
			[]string{"root@10.3.1.21:22", "ssh-rsa SHA256:", "ecdsa-sha2-nistp256 SHA256:", "/etc/my.cnf.d/galera.cnf", "[secret]", "svc rabbitmq-server"}, ""},
		{"local", []string{"profile", "admin01", "--local", "--dry-run"},
			[]string{"on this host", "/etc/bind/named.conf", "/etc/openvpn/server/provision/server.key  [secret]", "svc named"}, ""},
		{"local refuses another node", []string{"profile", "compute01", "--local", "--dry-run"}, nil, "--local applies the appliance's own profile"},
		{"remote refuses the appliance", []string{"profile", "admin01", "--dry-run"}, nil, "apply it with --local"},
		{"unknown node", []string{"profile", "nosuch", "--dry-run"}, nil, `node "nosuch" is not in`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append(base, tc.args...)...)
			if tc.err != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", r.err, tc.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

// TestProfileLocalInLab: with a lab up on the state, --local refuses to
// apply the appliance's profile to this machine; --dry-run still shows it.
func TestProfileLocalInLab(t *testing.T) {
	site, state := copySite(t, "paper"), t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "lab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "lab", "lab.json"), []byte(`{"site":"paper","appliance_namespace":"pvl-paper-app"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Should the refusal ever go, apply.sh must not change this machine:
	// with no command on its PATH it stops at its first line that runs
	// one (set -e), before it installs anything.
	t.Setenv("PATH", t.TempDir())
	r := runCLI(t, nil, "", "--site", site, "--state", state, "profile", "admin01", "--local")
	if r.err == nil || !strings.Contains(r.err.Error(), "a lab is up on this state") {
		t.Fatalf("--local in a lab: %v\n%s", r.err, r.stdout)
	}
	if r := runCLI(t, nil, "", "--site", site, "--state", state, "profile", "admin01", "--local", "--dry-run"); r.err != nil || !strings.Contains(r.stdout, "on this host") {
		t.Fatalf("--local --dry-run in a lab: %v\n%s", r.err, r.stdout)
	}
}
