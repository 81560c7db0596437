package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVPNClient issues a client configuration: one 0600 file with
// everything inline, pointing at admin01's Internet address; a name is
// issued once and a file never overwritten.
func TestVPNClient(t *testing.T) {
	site := copySite(t, "paper")
	state := t.TempDir()
	out := filepath.Join(t.TempDir(), "alice.ovpn")
	base := []string{"--site", site, "--state", state}
	r := runCLI(t, nil, "", append(base, "vpn", "client", "alice", "--out", out)...)
	if r.err != nil {
		t.Fatalf("vpn client: %v\n%s", r.err, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	for _, w := range []string{"remote 203.0.113.10 1194", "<ca>\n-----BEGIN CERTIFICATE-----", "<cert>", "<key>\n-----BEGIN EC PRIVATE KEY-----", "<tls-crypt>", "remote-cert-tls server"} {
		if !strings.Contains(string(data), w) {
			t.Errorf(".ovpn lacks %q", w)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Errorf("the key was printed")
	}
	if again := runCLI(t, nil, "", append(base, "vpn", "client", "alice", "--out", out)...); again.err == nil || !strings.Contains(again.err.Error(), "not overwritten") {
		t.Errorf("second write to the same file: %v", again.err)
	}
	other := filepath.Join(t.TempDir(), "alice.ovpn")
	if again := runCLI(t, nil, "", append(base, "vpn", "client", "alice", "--out", other)...); again.err == nil || !strings.Contains(again.err.Error(), "already issued") {
		t.Errorf("second issue of alice: %v", again.err)
	}
	if bad := runCLI(t, nil, "", append(base, "vpn", "client", "../x", "--out", filepath.Join(t.TempDir(), "x"))...); bad.err == nil {
		t.Errorf("client name ../x accepted")
	}
}
