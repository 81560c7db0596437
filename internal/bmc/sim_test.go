package bmc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/provision"
)

// The credentials of the simulated iDRACs: Dell's factory default.
const (
	testUser = "root"
	testPass = "calvin"
)

// startSim serves a simulator over TLS on a loopback port until the test
// ends; the serving goroutine ends in the cleanup.
func startSim(t testing.TB, cfg idracsim.Config) *idracsim.Server {
	t.Helper()
	if cfg.User == "" {
		cfg.User, cfg.Password = testUser, testPass
	}
	if cfg.Node == "" {
		cfg.Node = "compute01"
	}
	srv := &idracsim.Server{Sim: idracsim.New(cfg)}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator: %v", err)
		}
	})
	return srv
}

// testConfig is a client config for srv with the certificate pinned,
// sessions on and short timeouts and backoffs.
func testConfig(srv *idracsim.Server) Config {
	return Config{
		Node:     srv.Sim.Node(),
		Endpoint: srv.Endpoint(),
		User:     testUser,
		Password: provision.NewSecret(testPass),
		Pin:      srv.Fingerprint(),
		Sessions: true,
		Timeouts: Timeouts{Poll: 2 * time.Millisecond, Power: 5 * time.Second, Request: 5 * time.Second},
		Retry:    Retry{Attempts: 4, Base: time.Millisecond, Max: 4 * time.Millisecond},
	}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// events collects a client's events.
type events struct {
	mu   sync.Mutex
	list []provision.Event
}

func (e *events) sink(ev provision.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.list {
		out = append(out, ev.Kind)
	}
	return out
}

// login opens a Redfish session outside the client, as another tool on
// the network would, and returns its URI and token.
func login(t *testing.T, srv *idracsim.Server) (string, string, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"UserName": testUser, "Password": testPass})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.Endpoint()+idracsim.SessionsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := insecureHTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location"), resp.Header.Get("X-Auth-Token"), resp.StatusCode
}

func logoutRaw(t *testing.T, srv *idracsim.Server, uri, token string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, srv.Endpoint()+uri, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := insecureHTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func insecureHTTP() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// noSessions checks that every session was logged out: logout is done
// before an operation returns, whatever its outcome.
func noSessions(t *testing.T, sim *idracsim.Sim) {
	t.Helper()
	if n := sim.Sessions(); n != 0 {
		t.Errorf("%d sessions left open on %s", n, sim.Node())
	}
}
