package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeBMC records the calls made to it and fails with err.
type fakeBMC struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeBMC) call(op string, n *provision.NodePlan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+n.Name)
	return f.err
}

func (f *fakeBMC) Discover(_ context.Context, n *provision.NodePlan) (map[string]string, error) {
	if err := f.call("discover", n); err != nil {
		return nil, err
	}
	return map[string]string{"em1": "02:00:00:00:99:01"}, nil
}
func (f *fakeBMC) PXEOnce(_ context.Context, n *provision.NodePlan) error { return f.call("pxe", n) }
func (f *fakeBMC) PowerCycle(_ context.Context, n *provision.NodePlan) error {
	return f.call("power", n)
}

func (f *fakeBMC) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// harness is an API on a real loopback socket over a real store.
type harness struct {
	URL     string
	Plan    *provision.Plan
	Store   *store.Store
	Tracker *tracker.Tracker
	BMC     *fakeBMC
	MACs    map[string]map[string]string
	// Handler is the API's mux, for requests without a socket.
	Handler http.Handler
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	plan := sitetest.Plan(t, "paper", nil)
	st, err := store.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tr, err := tracker.New(st, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{Plan: plan, Store: st, Tracker: tr, BMC: &fakeBMC{}, MACs: map[string]map[string]string{}}
	var mu sync.Mutex
	s := &Server{
		Plan: func() *provision.Plan { return plan }, Tracker: tr, Events: st.Events, NetbootOf: st.Netboot,
		SetNetboot: func(node string, on bool) error { return st.SetFlag(node, store.FlagNetboot, on) },
		BMC:        h.BMC,
		Discovered: func(_ context.Context, node string, macs map[string]string) error {
			mu.Lock()
			defer mu.Unlock()
			h.MACs[node] = macs
			return nil
		},
		Authorized: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken },
		KeepAlive:  time.Hour,
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.URL, h.Handler = srv.URL, mux
	return h
}

// do sends a request and returns the status and body.
func (h *harness) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

func (h *harness) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body := h.do(t, http.MethodGet, path, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// sseClient reads a Server-Sent Events stream.
type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

// openStream connects to the event stream and reads its preamble, so
// that the server has subscribed when it returns.
func openStream(t *testing.T, url string, header http.Header) *sseClient {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream preamble: %v", err)
		}
		if line == "\n" {
			return c
		}
	}
}

// sseMessage is one event of the stream.
type sseMessage struct {
	ID, Event string
	Data      StreamEvent
}

// next reads the next event, skipping comments; it fails the test when
// none comes within d.
func (c *sseClient) next(t *testing.T, d time.Duration) sseMessage {
	t.Helper()
	m, err := c.read(d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// read reads the next event within d (the read is ended by closing the
// body).
func (c *sseClient) read(d time.Duration) (sseMessage, error) {
	timer := time.AfterFunc(d, func() { c.resp.Body.Close() })
	defer timer.Stop()
	var m sseMessage
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return m, fmt.Errorf("no event within %v: %w", d, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && m.ID != "":
			return m, nil
		case strings.HasPrefix(line, "id: "):
			m.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &m.Data); err != nil {
				return m, fmt.Errorf("data %q: %w", line, err)
			}
		}
	}
}
