package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provision/provision/provision"
)

// BenchmarkScrape gathers /metrics with every series of a busy appliance
// present.
func BenchmarkScrape(b *testing.B) {
	m := New(Config{Statuses: func() map[string]provision.Status {
		return map[string]provision.Status{"a": {State: provision.StateReady}}
	}})
	for _, k := range []string{"transfer", "not-found", "refused"} {
		m.Observe(provision.Event{Node: "n", Source: "tftp", Kind: k, Attrs: map[string]string{"bytes": "10", "duration": "1ms"}})
	}
	h := m.Handler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkMiddleware is the cost of counting one request.
func BenchmarkMiddleware(b *testing.B) {
	m := New(Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ks/{node}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	h := m.Middleware(mux)
	req := httptest.NewRequest(http.MethodGet, "/ks/compute05", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
