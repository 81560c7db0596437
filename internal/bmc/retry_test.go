package bmc

import (
	"errors"
	"net/http"
	"testing"
)

// TestShouldRetry: what is worth repeating. A POST that reached the iDRAC
// is repeated only on a 503, which an iDRAC sends before acting: a reset
// done twice would cost a node its one-time PXE boot.
func TestShouldRetry(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code, Status: http.StatusText(code)} }
	netErr := errors.New("connection reset by peer")
	tests := []struct {
		name    string
		method  string
		resp    *http.Response
		body    string
		written bool
		err     error
		want    bool
	}{
		{name: "GET 500", method: "GET", resp: resp(500), want: true},
		{name: "GET 502", method: "GET", resp: resp(502), want: true},
		{name: "POST 500 is not repeated", method: "POST", resp: resp(500), want: false},
		{name: "POST 503 session limit", method: "POST", resp: resp(503), body: "IDRAC.2.8.RAC0218", want: true},
		{name: "POST 400 SWC0700 not ready", method: "POST", resp: resp(400), body: "IDRAC.2.8.SWC0700", want: true},
		{name: "PATCH 500 is idempotent", method: "PATCH", resp: resp(500), want: true},
		{name: "GET 404", method: "GET", resp: resp(404), want: false},
		{name: "GET 401", method: "GET", resp: resp(401), want: false},
		{name: "POST 409 PSU501", method: "POST", resp: resp(409), body: "PSU501", want: false},
		{name: "POST not sent", method: "POST", err: netErr, written: false, want: true},
		{name: "POST sent, no answer", method: "POST", err: netErr, written: true, want: false},
		{name: "GET sent, no answer", method: "GET", err: netErr, written: true, want: true},
		{name: "certificate mismatch", method: "GET", err: &CertMismatchError{Pinned: "a", Got: "b"}, want: false},
	}
	for _, tt := range tests {
		got, _ := shouldRetry(tt.method, tt.resp, []byte(tt.body), tt.written, tt.err)
		if got != tt.want {
			t.Errorf("%s: retry = %v, want %v", tt.name, got, tt.want)
		}
	}
}
