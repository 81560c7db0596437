package bmc

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/provision"
)

// TestFaults runs status against an iDRAC that misbehaves, table-driven:
// what is retried ends well, what is not is reported with its cause, and
// no session is ever left open.
func TestFaults(t *testing.T) {
	tests := []struct {
		name        string
		faults      []idracsim.Fault
		cfg         func(*Config)
		ctxTimeout  time.Duration
		wantErr     error  // errors.Is
		wantText    string // in the error
		wantRetries int64  // at least
	}{
		{name: "SWC0700 not ready twice, then fine",
			faults:      []idracsim.Fault{{Kind: idracsim.FaultStatus, Status: http.StatusServiceUnavailable, Times: 2, Path: idracsim.SystemPath}},
			wantRetries: 2},
		{name: "500 once on a GET is retried",
			faults:      []idracsim.Fault{{Kind: idracsim.FaultStatus, Status: http.StatusInternalServerError, Times: 1, Path: idracsim.SystemPath}},
			wantRetries: 1},
		{name: "502 on every GET gives up",
			faults:   []idracsim.Fault{{Kind: idracsim.FaultStatus, Status: http.StatusBadGateway, Path: idracsim.SystemPath}},
			wantText: "HTTP 502", wantRetries: 3},
		// net/http itself resends a GET once when a kept-alive
		// connection is dropped; the third drop reaches the retry loop.
		{name: "dropped connections are retried",
			faults:      []idracsim.Fault{{Kind: idracsim.FaultDrop, Times: 3, Path: idracsim.SystemPath}},
			wantRetries: 1},
		{name: "stalled body hits the attempt deadline",
			faults:   []idracsim.Fault{{Kind: idracsim.FaultStallBody, Path: idracsim.SystemPath}},
			cfg:      func(c *Config) { c.Timeouts.Request = 100 * time.Millisecond; c.Retry.Attempts = 2 },
			wantText: "no complete answer within 100ms", wantRetries: 1},
		{name: "stalled TLS handshake hits the handshake timeout",
			faults:   []idracsim.Fault{{Kind: idracsim.FaultStallTLS}},
			cfg:      func(c *Config) { c.Timeouts.TLSHandshake = 100 * time.Millisecond; c.Retry.Attempts = 2 },
			wantText: "TLS handshake timeout", wantRetries: 1},
		{name: "slow iDRAC and the caller's deadline",
			faults:     []idracsim.Fault{{Kind: idracsim.FaultLatency, Delay: time.Minute, Path: idracsim.SystemPath}},
			ctxTimeout: 200 * time.Millisecond,
			wantErr:    context.DeadlineExceeded},
		{name: "slow headers hit the response header timeout",
			faults:   []idracsim.Fault{{Kind: idracsim.FaultLatency, Delay: time.Minute, Path: idracsim.SystemPath}},
			cfg:      func(c *Config) { c.Timeouts.ResponseHeader = 100 * time.Millisecond; c.Retry.Attempts = 1 },
			wantText: "timeout awaiting response headers"},
		{name: "logout answered 503 once is retried",
			faults: []idracsim.Fault{{Kind: idracsim.FaultStatus, Status: http.StatusServiceUnavailable, Times: 1, Method: "DELETE"}}},
		{name: "wrong password",
			cfg:      func(c *Config) { c.Password = provision.NewSecret("wrong-secret-pw") },
			wantErr:  ErrAuth,
			wantText: "check the user and password"},
		{name: "wrong password, basic auth",
			cfg:      func(c *Config) { c.Password = provision.NewSecret("wrong-secret-pw"); c.Sessions = false },
			wantErr:  ErrAuth,
			wantText: "check the user and password"},
		{name: "certificate mismatch is refused, not retried",
			cfg:     func(c *Config) { c.Pin = strings.Repeat("ab", 32) },
			wantErr: ErrCertMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, idracsim.Config{})
			for _, f := range tt.faults {
				srv.Sim.Inject(f)
			}
			cfg := testConfig(srv)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c := newClient(t, cfg)
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			_, err := c.Status(ctx)
			switch {
			case tt.wantErr == nil && tt.wantText == "":
				if err != nil {
					t.Fatalf("Status: %v", err)
				}
			case err == nil:
				t.Fatalf("Status succeeded, want %v %q", tt.wantErr, tt.wantText)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Status = %v, want %v", err, tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantText):
				t.Errorf("Status = %v, want %q in it", err, tt.wantText)
			}
			if err != nil && strings.Contains(err.Error(), "wrong-secret-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
			if got := c.Retries(); got < tt.wantRetries {
				t.Errorf("%d retries, want at least %d", got, tt.wantRetries)
			}
			if errors.Is(tt.wantErr, ErrCertMismatch) && c.Retries() != 0 {
				t.Errorf("a certificate mismatch was retried %d times", c.Retries())
			}
			srv.Sim.ClearFaults()
			noSessions(t, srv.Sim)
		})
	}
}

// TestSessionLimit fills the iDRAC's sessions as other tools would: the
// client is answered 503 RAC0218, retries, reports it, and works once a
// session is freed.
func TestSessionLimit(t *testing.T) {
	srv := startSim(t, idracsim.Config{MaxSessions: 2})
	var held [][2]string
	for range 2 {
		uri, tok, status := login(t, srv)
		if status != http.StatusCreated {
			t.Fatalf("login: %d", status)
		}
		held = append(held, [2]string{uri, tok})
	}
	if _, _, status := login(t, srv); status != http.StatusServiceUnavailable {
		t.Fatalf("login past the limit: %d, want 503", status)
	}
	c := newClient(t, testConfig(srv))
	_, err := c.Status(t.Context())
	if err == nil || !strings.Contains(err.Error(), "RAC0218") {
		t.Fatalf("Status with no session left = %v, want RAC0218", err)
	}
	if c.Retries() == 0 {
		t.Error("the 503 was not retried")
	}
	logoutRaw(t, srv, held[0][0], held[0][1])
	for range 5 {
		if _, err := c.Status(t.Context()); err != nil {
			t.Fatalf("after a logout: %v", err)
		}
	}
	if got := srv.Sim.Sessions(); got != 1 {
		t.Errorf("%d sessions open, want only the one still held", got)
	}
	if got := c.SessionsClosed(); got != 5 {
		t.Errorf("client logged out %d sessions, want 5", got)
	}
}

// TestShellMetacharacters: credentials are bytes, never through a shell.
func TestShellMetacharacters(t *testing.T) {
	pass := `p$(reboot)'"; rm -rf / #` + "`id` & | > < \\ \t%s"
	user := `r$USER;oot`
	for _, sessions := range []bool{false, true} {
		srv := startSim(t, idracsim.Config{User: user, Password: pass})
		cfg := testConfig(srv)
		cfg.User, cfg.Password, cfg.Sessions = user, provision.NewSecret(pass), sessions
		if _, err := newClient(t, cfg).Status(t.Context()); err != nil {
			t.Fatalf("sessions=%v: %v", sessions, err)
		}
		noSessions(t, srv.Sim)
	}
}

// TestTrust covers every way of verifying the certificate.
func TestTrust(t *testing.T) {
	srv := startSim(t, idracsim.Config{})
	fp, err := Fingerprint(t.Context(), srv.Endpoint(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fp != srv.Fingerprint() {
		t.Fatalf("Fingerprint = %s, want %s", fp, srv.Fingerprint())
	}
	ca := filepath.Join(t.TempDir(), "idrac.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	other := startSim(t, idracsim.Config{Node: "other"})
	otherCA := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherCA, other.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	colons := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, strings.ToUpper(s[i:i+2]))
		}
		return strings.Join(parts, ":")
	}
	var mismatches events
	tests := []struct {
		name    string
		cfg     func(*Config)
		wantErr error
		newErr  error
	}{
		{name: "pinned", cfg: func(c *Config) {}},
		{name: "pinned with colons", cfg: func(c *Config) { c.Pin = "SHA256:" + colons(fp) }},
		{name: "CA file", cfg: func(c *Config) { c.Pin, c.CAFile = "", ca }},
		{name: "insecure", cfg: func(c *Config) { c.Pin, c.Insecure = "", true }},
		{name: "wrong CA", cfg: func(c *Config) { c.Pin, c.CAFile = "", otherCA }, wantErr: errAny},
		{name: "other iDRAC's pin", cfg: func(c *Config) { c.Pin = other.Fingerprint(); c.Events = mismatches.sink }, wantErr: ErrCertMismatch},
		{name: "nothing to trust", cfg: func(c *Config) { c.Pin = "" }, newErr: ErrNoTrust},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(srv)
			tt.cfg(&cfg)
			c, err := New(cfg)
			if tt.newErr != nil || err != nil {
				if !errors.Is(err, tt.newErr) {
					t.Fatalf("New = %v, want %v", err, tt.newErr)
				}
				return
			}
			_, err = c.Status(t.Context())
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr == errAny && err == nil:
				t.Fatal("certificate from another CA accepted")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Status = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && c.Retries() != 0 {
				t.Errorf("a certificate error was retried")
			}
		})
	}
	if got := mismatches.kinds(); len(got) != 1 || got[0] != "bmc-cert-mismatch" {
		t.Errorf("mismatch events %v, want one bmc-cert-mismatch", got)
	}
	noSessions(t, srv.Sim)
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")
