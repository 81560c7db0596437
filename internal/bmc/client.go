package bmc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/provision/provision/provision"
	"github.com/stmcginnis/gofish"
)

// Timeouts bound every step of talking to an iDRAC.
type Timeouts struct {
	Dial           time.Duration // TCP connect (default 5s)
	TLSHandshake   time.Duration // default 10s
	ResponseHeader time.Duration // request written to headers read (default 30s)
	// Request bounds one attempt, body included (default 45s).
	Request time.Duration
	// Operation bounds a whole operation but its power wait (default 3m).
	Operation time.Duration
	// Power is how long to wait for a power state (default 5m).
	Power time.Duration
	// Poll is the interval between power state reads (default 2s).
	Poll time.Duration
	// Logout bounds logging out, which runs after the operation's
	// context may have ended (default 15s).
	Logout time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Dial, 5*time.Second)
	def(&t.TLSHandshake, 10*time.Second)
	def(&t.ResponseHeader, 30*time.Second)
	def(&t.Request, 45*time.Second)
	def(&t.Operation, 3*time.Minute)
	def(&t.Power, 5*time.Minute)
	def(&t.Poll, 2*time.Second)
	def(&t.Logout, 15*time.Second)
	return t
}

// Config is one iDRAC and how to talk to it.
type Config struct {
	// Node names the server in errors, logs and events.
	Node string
	// Endpoint is https://HOST[:PORT].
	Endpoint string
	User     string
	Password provision.Secret
	// Pin is the SHA-256 fingerprint (hex, colons allowed) of the iDRAC's
	// certificate. It takes precedence over CAFile.
	Pin string
	// CAFile is a PEM bundle to verify the certificate against.
	CAFile string
	// Insecure skips certificate verification; New logs a warning.
	Insecure bool
	// Sessions logs in with a Redfish session (always logged out after
	// the operation) instead of HTTP Basic authentication.
	Sessions bool
	Timeouts Timeouts
	Retry    Retry
	// Events receives an event for every action taken.
	Events provision.EventSink
	Log    *slog.Logger
}

// Client talks to one iDRAC. Its operations are safe for concurrent use
// and run one at a time.
type Client struct {
	cfg  Config
	http *http.Client
	// base is the transport without retries, for logging out.
	base    http.RoundTripper
	sem     chan struct{}
	retries atomic.Int64
	// sessionsClosed counts logouts, for tests and preflight.
	sessionsClosed atomic.Int64
}

// New checks cfg and builds the client. It does not contact the iDRAC.
func New(cfg Config) (*Client, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Node == "" {
		cfg.Node = cfg.Endpoint
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("bmc %s: endpoint %q: want https://HOST[:PORT]", cfg.Node, cfg.Endpoint)
	}
	cfg.Endpoint = "https://" + u.Host
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	cfg.Retry = cfg.Retry.withDefaults()
	tc, err := tlsConfig(&cfg, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("bmc %s: %w", cfg.Node, err)
	}
	tr := &http.Transport{
		// The BMC network is reached directly, never through a proxy
		// from the environment.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeouts.Dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeouts.TLSHandshake,
		ResponseHeaderTimeout: cfg.Timeouts.ResponseHeader,
		IdleConnTimeout:       30 * time.Second,
		// One connection, hence one request at a time: iDRACs answer
		// slowly and fail under parallel load.
		MaxConnsPerHost: 1,
		TLSClientConfig: tc,
	}
	c := &Client{cfg: cfg, sem: make(chan struct{}, 1), base: tr}
	c.http = &http.Client{Transport: &retryTransport{
		next: tr, retry: cfg.Retry, perTry: cfg.Timeouts.Request, log: cfg.Log, node: cfg.Node,
		retried: func() { c.retries.Add(1) },
	}}
	return c, nil
}

// Node returns the node the client is for.
func (c *Client) Node() string { return c.cfg.Node }

// Endpoint returns the iDRAC's URL.
func (c *Client) Endpoint() string { return c.cfg.Endpoint }

// Retries returns how many requests were retried so far.
func (c *Client) Retries() int64 { return c.retries.Load() }

// trustMode says how the certificate is verified, for preflight.
func (c *Client) trustMode() string {
	switch {
	case c.cfg.Pin != "":
		return "pinned sha256 " + short(NormalizeFingerprint(c.cfg.Pin))
	case c.cfg.CAFile != "":
		return "CA " + c.cfg.CAFile
	}
	return "NOT VERIFIED (--insecure)"
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16] + "..."
	}
	return fp
}

func tlsConfig(cfg *Config, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Pin != "":
		want := NormalizeFingerprint(cfg.Pin)
		if len(want) != sha256.Size*2 {
			return nil, fmt.Errorf("pinned fingerprint %q is not a SHA-256 in hex", cfg.Pin)
		}
		// The pin replaces chain and name verification: an iDRAC's
		// factory certificate is self-signed and names no address, so
		// the fingerprint is what identifies it (trust on first use).
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("iDRAC sent no certificate")
			}
			got := FingerprintOf(cs.PeerCertificates[0])
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				return &CertMismatchError{Pinned: want, Got: got}
			}
			return nil
		}
	case cfg.CAFile != "":
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", cfg.CAFile)
		}
		tc.RootCAs = pool
		tc.ServerName = host
	case cfg.Insecure:
		tc.InsecureSkipVerify = true
		cfg.Log.Warn("iDRAC certificate NOT verified (--insecure): anyone on the path can read the credentials",
			"node", cfg.Node, "bmc", cfg.Endpoint)
	default:
		return nil, fmt.Errorf("%w: run 'provision bmc trust %s' to pin its certificate, or give a CA file, or --insecure", ErrNoTrust, cfg.Node)
	}
	return tc, nil
}

// FingerprintOf returns the SHA-256 of a certificate, lower-case hex.
func FingerprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint lower-cases a hex fingerprint and drops a
// "sha256:" prefix, colons and white space.
func NormalizeFingerprint(fp string) string {
	fp = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(fp)), "sha256:")
	return strings.Map(func(r rune) rune {
		if r == ':' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, fp)
}

// Fingerprint connects to an iDRAC without verifying its certificate and
// returns the certificate's SHA-256 (trust on first use). Nothing but the
// TLS handshake is sent.
func Fingerprint(ctx context.Context, endpoint string, timeout time.Duration) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("endpoint %q: want https://HOST[:PORT]", endpoint)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return "", fmt.Errorf("%s: %w", endpoint, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", fmt.Errorf("%s: no certificate", endpoint)
	}
	return FingerprintOf(certs[0]), nil
}

// session is one operation's connection to the iDRAC.
type session struct {
	api *gofish.APIClient
	c   *Client
}

// do runs fn as one operation: it waits its turn on this iDRAC, connects
// (and, with Sessions, logs in), runs fn under the operation deadline, and
// logs out whatever happened.
func (c *Client) do(ctx context.Context, op string, fn func(ctx context.Context, s *session) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return c.wrap(op, ctx.Err())
	}
	defer func() { <-c.sem }()
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint: c.cfg.Endpoint, Username: c.cfg.User, Password: c.cfg.Password.Reveal(),
		BasicAuth: !c.cfg.Sessions, HTTPClient: c.http, NoModifyTransport: true, ReuseConnections: true,
		MaxConcurrentRequests: 1,
	})
	if err != nil {
		var mm *CertMismatchError
		if errors.As(err, &mm) {
			// A changed certificate is either a replaced iDRAC board or
			// someone in the middle: the node's history must show it.
			c.emit("bmc-cert-mismatch", "iDRAC certificate does not match the pin: refused",
				map[string]string{"pinned": mm.Pinned, "sha256": mm.Got})
		}
		return c.wrap(op, describe(err))
	}
	if c.cfg.Sessions {
		// Log out even when ctx is done: a leaked session counts against
		// the iDRAC's small limit (503 RAC0218) until it times out.
		defer c.logout(ctx, api)
	}
	return c.wrap(op, fn(ctx, &session{api: api, c: c}))
}

func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("bmc %s (%s): %s: %w", c.cfg.Node, c.cfg.Endpoint, op, err)
}

// opContext bounds an operation but its power wait.
func (c *Client) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeouts.Operation)
}

// emit sends an event about the node.
func (c *Client) emit(kind, msg string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["bmc"] = c.cfg.Endpoint
	c.cfg.Log.Debug(msg, "node", c.cfg.Node, "bmc", c.cfg.Endpoint, "kind", kind)
	if c.cfg.Events != nil {
		c.cfg.Events(provision.Event{Time: time.Now().UTC(), Node: c.cfg.Node, Source: "bmc", Kind: kind, Msg: msg, Attrs: attrs})
	}
}

// logout deletes the operation's Redfish session with a fresh deadline.
// gofish's own Logout sends the DELETE under the operation's context,
// which is done when the operation timed out: exactly when a session is
// most likely to leak.
func (c *Client) logout(ctx context.Context, api *gofish.APIClient) {
	sess, err := api.GetSession()
	if err != nil || sess == nil || sess.ID == "" {
		return
	}
	uri := sess.ID
	if !strings.HasPrefix(uri, "https://") {
		uri = c.cfg.Endpoint + "/" + strings.TrimPrefix(uri, "/")
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeouts.Logout)
	defer cancel()
	// A DELETE is idempotent (RFC 9110 9.2.2): retried on errors and
	// 5xx until the logout deadline; 404 means the session is gone.
	hc := &http.Client{Transport: c.base}
	var why string
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(lctx, http.MethodDelete, uri, nil)
		if err != nil {
			why = err.Error()
			break
		}
		req.Header.Set("X-Auth-Token", sess.Token)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 || resp.StatusCode == http.StatusNotFound {
				c.sessionsClosed.Add(1)
				return
			}
			why = resp.Status
			if resp.StatusCode < 500 {
				break
			}
		} else {
			why = err.Error()
		}
		if attempt >= c.cfg.Retry.Attempts || lctx.Err() != nil {
			break
		}
		t := time.NewTimer(c.cfg.Retry.backoff(attempt))
		select {
		case <-t.C:
		case <-lctx.Done():
			t.Stop()
		}
	}
	c.cfg.Log.Warn("iDRAC session not logged out: it counts against the session limit until it times out",
		"node", c.cfg.Node, "bmc", c.cfg.Endpoint, "reason", why)
}

// SessionsClosed counts the Redfish sessions this client logged out.
func (c *Client) SessionsClosed() int64 { return c.sessionsClosed.Load() }
