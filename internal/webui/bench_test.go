package webui

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

// BenchmarkPage renders the paper site's rack view.
func BenchmarkPage(b *testing.B) {
	plan := sitetest.Plan(b, "paper", nil)
	p, err := New(func() *provision.Plan { return plan }, func() map[string]provision.Status { return nil }, nil)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
