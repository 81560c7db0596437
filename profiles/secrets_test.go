package profiles

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// TestLoadSecrets: generated once, kept 0600, stable across loads, the
// site's [extra] wins, a readable file is refused, nothing prints.
func TestLoadSecrets(t *testing.T) {
	state := t.TempDir()
	a, err := LoadSecrets(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(SecretsFile(state))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", err, fi.Mode())
	}
	b, err := LoadSecrets(state, map[string]provision.Secret{"vrrp": provision.NewSecret("override")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		sa, ok := a.Get(name)
		if !ok || sa.IsZero() {
			t.Errorf("%s not generated", name)
			continue
		}
		sb, _ := b.Get(name)
		if name == "vrrp" {
			if sb.Reveal() != "override" || len(sa.Reveal()) != 8 {
				t.Errorf("vrrp: generated %d chars, override %q", len(sa.Reveal()), sb.Reveal())
			}
			continue
		}
		if sa.Reveal() != sb.Reveal() {
			t.Errorf("%s changed between loads", name)
		}
	}
	data, _ := os.ReadFile(SecretsFile(state))
	if strings.Contains(string(data), "override") {
		t.Errorf("an [extra] secret was written to the state file")
	}
	if v, _ := a.Get("mysql-root"); strings.Contains(fmtAll(v), v.Reveal()) {
		t.Errorf("a secret prints")
	}
	if err := os.Chmod(SecretsFile(state), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecrets(state, nil); !errors.Is(err, provision.ErrSecretsMode) {
		t.Errorf("readable secrets file: %v, want ErrSecretsMode", err)
	}
}

// TestPKI: the CA signs the server and client certificates with the
// right usages; reopening keeps the CA; a client name is issued once.
func TestPKI(t *testing.T) {
	state := t.TempDir()
	now := time.Now()
	p, err := OpenPKI(state, "paper", now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenPKI(state, "paper", now)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Server().CACert) != string(again.Server().CACert) || p.Server().TLSCrypt.Reveal() != again.Server().TLSCrypt.Reveal() {
		t.Fatal("reopening the PKI changed the CA or the tls-crypt key")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.Server().CACert)
	verify := func(certPEM []byte, usage x509.ExtKeyUsage) {
		t.Helper()
		blk, _ := pem.Decode(certPEM)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: %v", c.Subject.CommonName, err)
		}
	}
	verify(p.Server().Cert, x509.ExtKeyUsageServerAuth)
	cert, key, err := p.Client("alice", now)
	if err != nil {
		t.Fatal(err)
	}
	verify(cert, x509.ExtKeyUsageClientAuth)
	if !strings.Contains(key.Reveal(), "EC PRIVATE KEY") {
		t.Error("client key is not a PEM EC key")
	}
	if _, _, err := p.Client("alice", now); !errors.Is(err, ErrClientExists) {
		t.Errorf("second alice: %v", err)
	}
	for _, bad := range []string{"", "../x", "server", "-a", strings.Repeat("a", 65)} {
		if _, _, err := p.Client(bad, now); !errors.Is(err, ErrBadClient) {
			t.Errorf("client %q: %v, want ErrBadClient", bad, err)
		}
	}
	if tc := p.Server().TLSCrypt.Reveal(); strings.Count(tc, "\n") != 21 {
		t.Errorf("tls-crypt key has %d lines, want 21 (a header, 16 of hex, 2 markers)", strings.Count(tc, "\n"))
	}
}
