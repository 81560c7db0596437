package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequests: whatever an operator or a scanner sends, the API answers
// without a server error and never with the token.
func FuzzRequests(f *testing.F) {
	for _, s := range []struct {
		method, target, body string
		auth                 bool
	}{
		{"GET", "/api/v1/nodes/compute05?limit=3&since=1", "", false},
		{"GET", "/api/v1/nodes/compute05/timeline?limit=99999999999999999999", "", false},
		{"GET", "/api/v1/events?since=0&node=compute05", "", false},
		{"GET", "/api/v1/events?node=%2e%2e%2f", "", false},
		{"POST", "/api/v1/nodes/compute05/netboot", `{"on":true}`, true},
		{"POST", "/api/v1/nodes/compute05/netboot", `{"on":null}`, true},
		{"POST", "/api/v1/nodes/compute05/power", `{"action":"cycle","force":true}`, true},
		{"POST", "/api/v1/nodes/admin01/pxe", `[`, true},
		{"POST", "/api/v1/nodes/compute05/discover", `{"force":"yes"}`, false},
		{"GET", "/api/v1/nodes/%00", "", false},
		{"PUT", "/api/v1/plan", "x", true},
	} {
		f.Add(s.method, s.target, s.body, s.auth)
	}
	h := newHarness(f).Handler
	f.Fuzz(func(t *testing.T, method, target, body string, auth bool) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // an event stream ends at once
		req, err := http.NewRequestWithContext(ctx, method, "http://appliance"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("%s %q: %d %s", method, target, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), testToken) {
			t.Errorf("%s %q: the token is in the response", method, target)
		}
	})
}
