package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// TestEventsOutliveServerTimeouts: a stream is not cut by the server's
// read and write timeouts (the HTTP server's are 30 and 60 seconds; here
// a fifth of a second): an event recorded after both passed still
// arrives on the same connection.
func TestEventsOutliveServerTimeouts(t *testing.T) {
	h := newHarness(t)
	s := &Server{Plan: func() *provision.Plan { return h.Plan }, Tracker: h.Tracker, Events: h.Store.Events,
		KeepAlive: 50 * time.Millisecond}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close) // after the stream's body is closed
	c := openStream(t, srv.URL+"/api/v1/events", nil)
	start := time.Now()
	// Keep-alive comments mark time passing on the stream itself.
	for time.Since(start) < 500*time.Millisecond {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after %v: %v", time.Since(start), err)
		}
		if line != "\n" && !strings.HasPrefix(line, ": keep-alive") {
			t.Fatalf("unexpected line %q", line)
		}
	}
	e, err := h.Tracker.RecordErr(provision.Event{Node: "compute05", Source: "dhcp", Kind: "discovered"})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.next(t, 10*time.Second); m.Data.Event.Seq != e.Seq {
		t.Errorf("got event %d, want %d", m.Data.Event.Seq, e.Seq)
	}
}
