package httpd

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRoutes sends each request over a real socket from a chosen loopback
// address and checks the status, the body and the event it left.
func TestRoutes(t *testing.T) {
	e := start(t)
	tok := e.token(t, nodeName)
	other := e.token(t, "compute02")
	ks := "/api/v1/nodes/" + nodeName + "/kickstart"
	cb := "/api/v1/nodes/" + nodeName + "/events"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	tree := "/images/centos-6.5/"
	tests := []struct {
		name, from, method, path string
		hdr                      map[string]string
		body                     string
		code                     int
		contains, absent         string
		kind, reason             string // the event left; "" for none
	}{
		{name: "healthz", from: "127.0.0.1", method: "GET", path: "/healthz", code: 200, contains: "ok"},
		{name: "boot no mac", from: nodeAddr, method: "GET", path: "/boot.ipxe", code: 400, kind: "refused", reason: "bad-mac"},
		{name: "boot bad mac", from: nodeAddr, method: "GET", path: "/boot.ipxe?mac=52:54:00:00:00", code: 400, kind: "refused", reason: "bad-mac"},
		{name: "boot unknown mac", from: "127.3.2.200", method: "GET", path: "/boot.ipxe?mac=52:54:00:99:99:99", code: 200, contains: "is not in site staging", absent: "kernel", kind: "unknown-mac"},
		{name: "boot install", from: nodeAddr, method: "GET", path: "/boot.ipxe?mac=52:54:00:00:00:40", code: 200,
			contains: "kernel " + e.base + tree + "images/pxeboot/vmlinuz ks=" + e.base + ks + "?token=" + tok + " ", kind: "boot-script"},
		{name: "boot install other NIC hyphens", from: nodeAddr, method: "GET", path: "/boot.ipxe?mac=52-54-00-00-01-40", code: 200, contains: "?token=" + tok, kind: "boot-script"},
		{name: "boot from another address", from: otherIP, method: "GET", path: "/boot.ipxe?mac=52:54:00:00:00:40", code: 200,
			contains: "sanboot --no-describe --drive 0x80", absent: "token", kind: "refused", reason: "address"},
		{name: "boot POST", from: nodeAddr, method: "POST", path: "/boot.ipxe?mac=52:54:00:00:00:40", code: 405},
		{name: "ks query token", from: nodeAddr, method: "GET", path: ks + "?token=" + tok, code: 200, contains: "# kickstart of compute01", kind: "kickstart"},
		{name: "ks short path bearer", from: nodeAddr, method: "GET", path: "/ks/" + nodeName, hdr: bearer(tok), code: 200, contains: "# kickstart of compute01", kind: "kickstart"},
		{name: "ks other address", from: otherIP, method: "GET", path: ks + "?token=" + tok, code: 403, absent: "kickstart of", kind: "refused", reason: "address"},
		{name: "ks appliance address", from: "127.3.2.10", method: "GET", path: ks + "?token=" + tok, code: 403, kind: "refused", reason: "address"},
		{name: "ks no token", from: nodeAddr, method: "GET", path: ks, code: 403, kind: "refused", reason: "no-token"},
		{name: "ks empty bearer", from: nodeAddr, method: "GET", path: ks + "?token=" + tok, hdr: map[string]string{"Authorization": "Basic eA=="}, code: 403, kind: "refused", reason: "no-token"},
		{name: "ks another node's token", from: nodeAddr, method: "GET", path: ks + "?token=" + other, code: 403, kind: "refused", reason: "token"},
		{name: "ks unknown node", from: nodeAddr, method: "GET", path: "/ks/nosuch?token=" + tok, code: 404, kind: "refused", reason: "unknown-node"},
		{name: "ks appliance node", from: "127.3.2.10", method: "GET", path: "/ks/admin01", code: 404, kind: "refused", reason: "appliance"},
		{name: "ks POST", from: nodeAddr, method: "POST", path: ks, code: 405},
		{name: "callback unknown node", from: nodeAddr, method: "POST", path: "/api/v1/nodes/nosuch/events", hdr: bearer(tok), body: `{"state":"installing"}`, code: 404, kind: "refused", reason: "unknown-node"},
		{name: "callback bad token", from: nodeAddr, method: "POST", path: cb, hdr: bearer(other), body: `{"state":"installing"}`, code: 403, kind: "refused", reason: "token"},
		{name: "callback other address", from: otherIP, method: "POST", path: cb, hdr: bearer(tok), body: `{"state":"installing"}`, code: 403, kind: "refused", reason: "address"},
		{name: "callback bad json", from: nodeAddr, method: "POST", path: cb, hdr: bearer(tok), body: `{"state":`, code: 400, kind: "refused", reason: "bad-body"},
		{name: "callback unknown kind", from: nodeAddr, method: "POST", path: cb, hdr: bearer(tok), body: `{"kind":"rebooted"}`, code: 400, kind: "refused", reason: "bad-body"},
		{name: "callback too large", from: nodeAddr, method: "POST", path: cb, hdr: bearer(tok), body: `{"kind":"failed","message":"` + strings.Repeat("x", MaxCallbackBytes) + `"}`, code: 413, kind: "refused", reason: "too-large"},
		{name: "callback GET", from: nodeAddr, method: "GET", path: cb, hdr: bearer(tok), code: 405},
		{name: "callback installing", from: nodeAddr, method: "POST", path: cb, hdr: bearer(tok), body: `{"state":"installing","message":"pre checks passed"}`, code: 200, contains: `"kind":"installing"`, kind: "installing"},
		{name: "callback pre-start", from: nodeAddr, method: "POST", path: cb, hdr: bearer(tok), body: `{"kind":"pre-start"}`, code: 200, kind: "pre-start"},
		{name: "image", from: "127.0.0.1", method: "GET", path: tree + "images/pxeboot/vmlinuz", code: 200, contains: "kernel-bytes"},
		{name: "image HEAD", from: "127.0.0.1", method: "HEAD", path: tree + "images/pxeboot/vmlinuz", code: 200},
		{name: "image symlink inside", from: "127.0.0.1", method: "GET", path: tree + "inside", code: 200, contains: "kernel-bytes"},
		{name: "image symlink out", from: "127.0.0.1", method: "GET", path: tree + "escape", code: 404, absent: "outside", kind: "refused", reason: "not-servable"},
		{name: "image directory", from: "127.0.0.1", method: "GET", path: tree + "images", code: 404},
		{name: "image root", from: "127.0.0.1", method: "GET", path: "/images/", code: 404, kind: "refused", reason: "bad-path"},
		{name: "image missing", from: "127.0.0.1", method: "GET", path: tree + "nope", code: 404},
		{name: "image dotdot", from: "127.0.0.1", method: "GET", path: "/images/../../../etc/passwd", code: 307, absent: "root:"},
		{name: "image encoded dotdot", from: "127.0.0.1", method: "GET", path: "/images/%2e%2e/%2e%2e/etc/passwd", code: 404, absent: "root:", kind: "refused", reason: "bad-path"},
		{name: "image backslash", from: "127.0.0.1", method: "GET", path: "/images/..%5c..%5cetc%5cpasswd", code: 404, kind: "refused", reason: "bad-path"},
		{name: "image PUT", from: "127.0.0.1", method: "PUT", path: tree + "new", body: "x", code: 405},
		{name: "headers too large", from: nodeAddr, method: "GET", path: "/healthz", hdr: map[string]string{"X-Big": strings.Repeat("a", MaxHeaderBytes+4096)}, code: 431},
		{name: "unknown path", from: "127.0.0.1", method: "GET", path: "/etc/passwd", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.ev.list())
			code, body := do(t, tt.from, tt.method, e.base+tt.path, tt.hdr, tt.body)
			if code != tt.code {
				t.Errorf("status %d, want %d; body %q", code, tt.code, clipBody(body))
			}
			if tt.contains != "" && !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q:\n%s", tt.contains, clipBody(body))
			}
			if tt.absent != "" && strings.Contains(body, tt.absent) {
				t.Errorf("body has %q:\n%s", tt.absent, clipBody(body))
			}
			evs := e.ev.list()[before:]
			var got [2]string
			if len(evs) > 0 {
				last := evs[len(evs)-1]
				got = [2]string{last.Kind, last.Attrs["reason"]}
				if last.Source != "http" || (last.IP != tt.from && last.IP != "") {
					t.Errorf("event source %q ip %q, want http %s", last.Source, last.IP, tt.from)
				}
			}
			if d := cmp.Diff([2]string{tt.kind, tt.reason}, got); d != "" {
				t.Errorf("event (kind, reason) (-want +got):\n%s", d)
			}
		})
	}
	t.Run("no secrets in logs or events", func(t *testing.T) {
		logs := e.logText()
		for _, s := range []string{tok, other} {
			if strings.Contains(logs, s) {
				t.Errorf("a token reached the log")
			}
			for _, ev := range e.ev.list() {
				if strings.Contains(ev.Msg, s) || strings.Contains(cmp.Diff(nil, ev.Attrs), s) {
					t.Errorf("a token reached event %+v", ev.Kind)
				}
			}
		}
	})
}

func clipBody(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestServeNeedsConfig(t *testing.T) {
	err := (&Server{Addr: "127.0.0.1:0"}).Serve(t.Context())
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Flags, Kickstart, Plan, Tokens") {
		t.Fatalf("Serve without config: %v", err)
	}
}
