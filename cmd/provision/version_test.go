package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "provision ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("exit %d: %q", r.code, r.stdout)
	}
}

// TestPackagingFiles checks what make install and make package ship: the
// unit runs serve as the provision user with the three capabilities it
// needs (not root), from where the packages put the binary, and the
// post-install script is valid shell.
func TestPackagingFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "packaging")
	unit, err := os.ReadFile(filepath.Join(dir, "provision.service"))
	if err != nil {
		t.Fatal(err)
	}
	nfpm, err := os.ReadFile(filepath.Join(dir, "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/sbin/provision serve", "User=provision",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_NET_ADMIN", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=provision"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("provision.service lacks %q", want)
		}
	}
	for _, want := range []string{"dst: /usr/sbin/provision", "dst: /lib/systemd/system/provision.service", "postinstall: packaging/postinstall.sh"} {
		if !strings.Contains(string(nfpm), want) {
			t.Errorf("nfpm.yaml lacks %q", want)
		}
	}
	if out, err := exec.Command("sh", "-n", filepath.Join(dir, "postinstall.sh")).CombinedOutput(); err != nil {
		t.Errorf("postinstall.sh: %v: %s", err, out)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		// The binary is not installed here: that complaint aside, the
		// unit must verify clean.
		out, _ := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "provision.service")).CombinedOutput()
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.Contains(l, "/usr/sbin/provision is not executable") {
				t.Errorf("systemd-analyze verify: %s", l)
			}
		}
	}
}
