package metrics

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMiddleware: requests count by the innermost route pattern, method
// and status; paths no route takes count as unmatched; a stream still
// flushes through the wrapper.
func TestMiddleware(t *testing.T) {
	m := New(Config{})
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/v1/nodes/{node}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("node") == "nosuch" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "{}")
	})
	release := make(chan struct{})
	inner.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
		<-release
	})
	outer := http.NewServeMux()
	outer.Handle("/api/v1/", inner)
	outer.HandleFunc("GET /ks/{node}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
	srv := httptest.NewServer(m.Middleware(outer))
	defer srv.Close()

	// The stream's first line arrives while the handler still runs.
	resp, err := http.Get(srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != ": hello\n" {
			t.Errorf("stream: %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not flushed through the middleware")
	}
	close(release)
	resp.Body.Close()
	// The stream is counted when its handler returns.
	stream := m.httpRequests.WithLabelValues("/api/v1/events", "GET", "200")
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(stream) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the ended stream was not counted")
		}
		runtime.Gosched()
	}

	for _, p := range []string{"/api/v1/nodes/compute05", "/api/v1/nodes/compute05", "/api/v1/nodes/nosuch", "/ks/compute05", "/wp-login.php"} {
		r, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	fams := scrape(t, m)
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"/api/v1/nodes/{node}", "200", 2},
		{"/api/v1/nodes/{node}", "404", 1},
		{"/api/v1/events", "200", 1},
		{"/ks/{node}", "403", 1},
		{"unmatched", "404", 1},
	} {
		l := map[string]string{"route": c.route, "method": "GET", "code": c.code}
		if got := value(fams, "provision_http_requests_total", l); got != c.want {
			t.Errorf("provision_http_requests_total%v = %v, want %v", l, got, c.want)
		}
	}
}
