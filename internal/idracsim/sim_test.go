package idracsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// do sends one request to the Sim's handler with basic auth.
func do(t testing.TB, s *Sim, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.SetBasicAuth("root", "calvin")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

// messageID returns the first MessageId of an error answer.
func messageID(t testing.TB, w *httptest.ResponseRecorder) string {
	var body struct {
		Error struct {
			Info []struct{ MessageId string } `json:"@Message.ExtendedInfo"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Error.Info) == 0 {
		return ""
	}
	return body.Error.Info[0].MessageId
}

// TestDellAnswers checks the simulator answers like an iDRAC, request by
// request, on one Sim whose state carries over from row to row.
func TestDellAnswers(t *testing.T) {
	s := New(Config{Node: "compute01", User: "root", Password: "calvin", MaxSessions: 1})
	etag := func() string { return do(t, s, "GET", SystemPath, "", nil).Header().Get("ETag") }
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		noAuth                   bool
		wantStatus               int
		wantID                   string
	}{
		{name: "service root is public", method: "GET", path: "/redfish/v1/", noAuth: true, wantStatus: 200},
		{name: "system needs credentials", method: "GET", path: SystemPath, noAuth: true, wantStatus: 401, wantID: "IDRAC.2.8.SYS415"},
		{name: "system", method: "GET", path: SystemPath, wantStatus: 200},
		{name: "NIC", method: "GET", path: NICsPath + "/NIC.Integrated.1-1-1", wantStatus: 200},
		{name: "unknown NIC", method: "GET", path: NICsPath + "/NIC.Slot.9-1-1", wantStatus: 404, wantID: "Base.1.8.ResourceMissingAtURI"},
		{name: "reset type not allowed", method: "POST", path: ResetPath, body: `{"ResetType":"GracefulRestart"}`, wantStatus: 400, wantID: "Base.1.8.PropertyValueNotInList"},
		{name: "force off while off", method: "POST", path: ResetPath, body: `{"ResetType":"ForceOff"}`, wantStatus: 409, wantID: "IDRAC.2.8.PSU502"},
		{name: "on", method: "POST", path: ResetPath, body: `{"ResetType":"On"}`, wantStatus: 204},
		{name: "on while on", method: "POST", path: ResetPath, body: `{"ResetType":"On"}`, wantStatus: 409, wantID: "IDRAC.2.8.PSU501"},
		{name: "bad target", method: "PATCH", path: SystemPath, body: `{"Boot":{"BootSourceOverrideTarget":"Usb"}}`, wantStatus: 400, wantID: "Base.1.8.PropertyValueNotInList"},
		{name: "stale ETag", method: "PATCH", path: SystemPath, body: `{"Boot":{"BootSourceOverrideTarget":"Pxe"}}`, hdr: map[string]string{"If-Match": `W/"stale"`}, wantStatus: 412, wantID: "Base.1.8.PreconditionFailed"},
		{name: "mode write queues a job", method: "PATCH", path: SystemPath, body: `{"Boot":{"BootSourceOverrideMode":"UEFI"}}`, wantStatus: 200},
		{name: "second mode write blocked by the job", method: "PATCH", path: SystemPath, body: `{"Boot":{"BootSourceOverrideMode":"Legacy"}}`, wantStatus: 400, wantID: "IDRAC.2.8.LC068"},
		{name: "malformed JSON", method: "PATCH", path: SystemPath, body: `{"Boot":`, wantStatus: 400, wantID: "Base.1.8.MalformedJSON"},
		{name: "method not allowed", method: "DELETE", path: SystemPath, wantStatus: 405, wantID: "Base.1.8.OperationNotAllowed"},
		{name: "login", method: "POST", path: SessionsPath, body: `{"UserName":"root","Password":"calvin"}`, noAuth: true, wantStatus: 201},
		{name: "session limit", method: "POST", path: SessionsPath, body: `{"UserName":"root","Password":"calvin"}`, noAuth: true, wantStatus: 503, wantID: "IDRAC.2.8.RAC0218"},
		{name: "bad login", method: "POST", path: SessionsPath, body: `{"UserName":"root","Password":"x"}`, noAuth: true, wantStatus: 401, wantID: "IDRAC.2.8.SYS415"},
		{name: "trailing slash", method: "GET", path: SystemPath + "/", wantStatus: 200},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		if !tt.noAuth {
			req.SetBasicAuth("root", "calvin")
		}
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != tt.wantStatus || messageID(t, w) != tt.wantID {
			t.Errorf("%s: %s %s = %d %q, want %d %q\n%s", tt.name, tt.method, tt.path, w.Code, messageID(t, w), tt.wantStatus, tt.wantID, w.Body)
		}
		if tt.name == "login" && (w.Header().Get("X-Auth-Token") == "" || !strings.HasPrefix(w.Header().Get("Location"), SessionsPath+"/")) {
			t.Errorf("login: no X-Auth-Token or Location: %v", w.Header())
		}
	}
	if got := s.ModeWrites(); got != 1 {
		t.Errorf("ModeWrites = %d, want 1", got)
	}
	before := etag()
	do(t, s, "PATCH", SystemPath, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`, map[string]string{"If-Match": before})
	if after := etag(); after == before {
		t.Errorf("ETag %s unchanged by a change", after)
	}
}

// TestPowerTransition: a reset takes simulated time, the one-time
// override is consumed by the boot, the scheduled BIOS job runs in POST
// and the OnBoot hook hears of a PXE boot.
func TestPowerTransition(t *testing.T) {
	clock := NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	booted := make(chan bool, 1)
	s := New(Config{PowerDelay: 40 * time.Second, Clock: clock, User: "root", Password: "calvin", OnBoot: func(pxe bool) { booted <- pxe }})
	do(t, s, "PATCH", SystemPath, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once","BootSourceOverrideMode":"UEFI"}}`, nil)
	if w := do(t, s, "POST", ResetPath, `{"ResetType":"On"}`, nil); w.Code != 204 {
		t.Fatalf("reset: %d", w.Code)
	}
	clock.Advance(39 * time.Second)
	if got := s.PowerState(); got != PowerPoweringOn {
		t.Fatalf("after 39s: %s", got)
	}
	clock.Advance(time.Second)
	if !<-booted {
		t.Error("OnBoot: not a PXE boot")
	}
	target, enabled, mode := s.BootOverride()
	if d := cmp.Diff([]string{PowerOn, "Pxe", "Disabled", "UEFI"}, []string{s.PowerState(), target, enabled, mode}); d != "" {
		t.Errorf("after the boot (-want +got):\n%s", d)
	}
	w := do(t, s, "GET", JobsPath, "", nil)
	var jobs struct{ Members []map[string]string }
	if err := json.Unmarshal(w.Body.Bytes(), &jobs); err != nil || len(jobs.Members) != 1 {
		t.Fatalf("jobs: %v %s", err, w.Body)
	}
	if w := do(t, s, "GET", jobs.Members[0]["@odata.id"], "", nil); !strings.Contains(w.Body.String(), `"Completed"`) {
		t.Errorf("BIOS job not completed by the boot:\n%s", w.Body)
	}
}

// TestSessionTimeout: a leaked session is closed after 30 idle minutes,
// and a session in use is not.
func TestSessionTimeout(t *testing.T) {
	clock := NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := New(Config{User: "root", Password: "calvin", MaxSessions: 2, Clock: clock})
	login := func() string {
		req := httptest.NewRequest("POST", SessionsPath, strings.NewReader(`{"UserName":"root","Password":"calvin"}`))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Header().Get("X-Auth-Token")
	}
	get := func(tok string) int {
		req := httptest.NewRequest("GET", SystemPath, nil)
		req.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Code
	}
	leaked, used := login(), login()
	clock.Advance(20 * time.Minute)
	if get(used) != 200 {
		t.Fatal("session refused before its timeout")
	}
	clock.Advance(10 * time.Minute)
	if n := s.Sessions(); n != 1 {
		t.Errorf("%d sessions after the timeout, want the one in use", n)
	}
	if code := get(leaked); code != 401 {
		t.Errorf("expired token answered %d, want 401", code)
	}
	if get(used) != 200 {
		t.Error("session in use expired")
	}
}

// FuzzHandler sends arbitrary requests: the simulator must answer each
// with a status and never panic or hang.
func FuzzHandler(f *testing.F) {
	f.Add("PATCH", SystemPath, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`)
	f.Add("POST", ResetPath, `{"ResetType":"On"}`)
	f.Add("POST", SessionsPath, `{"UserName":"root","Password":"calvin"}`)
	f.Add("DELETE", SessionsPath+"/1", ``)
	f.Add("GET", NICsPath+"/NIC.Integrated.1-1-1/", ``)
	f.Add("GET", "/redfish/v1/../../etc/passwd", ``)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#?%") || method == "" || strings.ContainsAny(method, " \r\n/") {
			return
		}
		s := New(Config{User: "root", Password: "calvin"})
		req, err := http.NewRequest(method, "https://idrac"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.SetBasicAuth("root", "calvin")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("%s %s: status %d", method, path, w.Code)
		}
		s.Close()
	})
}

// TestSlow: the slow profile delays logins and actions by the whole
// delay and other requests by a quarter of it, and a client that gives
// up before the answer gets none and leaves nothing done.
func TestSlow(t *testing.T) {
	const d = 80 * time.Millisecond
	want := []Fault{{Kind: FaultLatency, Method: "POST", Delay: d}, {Kind: FaultLatency, Delay: d / 4}}
	if diff := cmp.Diff(want, Slow(d)); diff != "" {
		t.Fatalf("Slow(%v) (-want +got):\n%s", d, diff)
	}
	s := New(Config{Node: "compute01", User: "root", Password: "calvin"})
	for _, f := range Slow(d) {
		s.Inject(f)
	}
	tests := []struct {
		name, method, path, body string
		atLeast                  time.Duration
		wantStatus               int
	}{
		{"read", "GET", SystemPath, "", d / 4, 200},
		{"login", "POST", SessionsPath, `{"UserName":"root","Password":"calvin"}`, d, 201},
		{"power action", "POST", ResetPath, `{"ResetType":"On"}`, d, 204},
	}
	for _, tt := range tests {
		start := time.Now()
		w := do(t, s, tt.method, tt.path, tt.body, nil)
		if took := time.Since(start); took < tt.atLeast || w.Code != tt.wantStatus {
			t.Errorf("%s: %d after %v, want %d after %v at least", tt.name, w.Code, took, tt.wantStatus, tt.atLeast)
		}
	}

	// A login whose client gives up (its context ends) before the delay
	// is aborted, as a connection closed under net/http's server is.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", SessionsPath, strings.NewReader(`{"UserName":"root","Password":"calvin"}`))
	func() {
		defer func() {
			if r := recover(); r != http.ErrAbortHandler {
				t.Errorf("login given up on: recovered %v, want http.ErrAbortHandler", r)
			}
		}()
		s.ServeHTTP(httptest.NewRecorder(), req)
	}()
	if n := s.Sessions(); n != 1 {
		t.Errorf("%d sessions, want only the first login's", n)
	}
}
