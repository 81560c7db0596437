package httpd

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/provision"
)

func TestLogName(t *testing.T) {
	for in, want := range map[string]string{
		"anaconda.log":           "anaconda.log",
		"ks-script-Ab3_x.log":    "ks-script-Ab3_x.log",
		"../../etc/passwd":       "passwd",
		`..\..\boot.ini`:         "boot.ini",
		"..":                     "",
		".":                      "",
		"/":                      "",
		".hidden":                "hidden",
		"a b;c$(d)":              "a_b_c__d_",
		"é.log":                  "__.log",
		strings.Repeat("x", 300): strings.Repeat("x", maxLogName),
	} {
		if got := LogName(in); got != want {
			t.Errorf("LogName(%q) = %q, want %q", in, got, want)
		}
	}
}

// startLogs runs a server keeping logs in a temp directory and returns
// its base URL, the log directory, the key store and the events.
func startLogs(t *testing.T) (base, dir string, keys *hostkeys.Store, ev *events) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + ln.Addr().String()
	plan := testPlan(t, base)
	if keys, err = hostkeys.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "logs")
	ev = &events{}
	srv := &Server{
		Listener:  ln,
		Plan:      func() *provision.Plan { return plan },
		Flags:     memFlags{},
		Tokens:    keys,
		Kickstart: fakeKickstart,
		LogDir:    dir,
		Events:    ev.sink,
		Log:       slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return base, dir, keys, ev
}

// TestLogUpload: a log is kept only when it comes from the node's own
// address with its token, whole, under a safe name, without the token.
func TestLogUpload(t *testing.T) {
	base, dir, keys, ev := startLogs(t)
	tok, err := keys.Token(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Token("compute02")
	if err != nil {
		t.Fatal(err)
	}
	url := base + "/api/v1/nodes/" + nodeName + "/logs/"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	logText := "12:00:01 INFO: kickstart url " + base + "/ks/compute01?token=" + tok + "\n12:00:02 INFO: done\n"
	tests := []struct {
		name, from, path string
		hdr              map[string]string
		body             string
		code             int
		reason           string // of the refused event; "" for an accepted upload
	}{
		{"no token", nodeAddr, url + "anaconda.log", nil, logText, 403, "no-token"},
		{"another node's token", nodeAddr, url + "anaconda.log", bearer(other), logText, 403, "token"},
		{"wrong token", nodeAddr, url + "anaconda.log", bearer(strings.Repeat("0", len(tok))), logText, 403, "token"},
		{"another address", otherIP, url + "anaconda.log", bearer(tok), logText, 403, "address"},
		{"appliance address", "127.3.2.10", url + "anaconda.log", bearer(tok), logText, 403, "address"},
		{"unknown node", nodeAddr, base + "/api/v1/nodes/nosuch/logs/anaconda.log", bearer(tok), logText, 404, "unknown-node"},
		{"dot-dot name", nodeAddr, url + "%2e%2e", bearer(tok), logText, 400, "bad-name"},
		{"too large", nodeAddr, url + "big.log", bearer(tok), strings.Repeat("x", MaxLogBytes+1), 413, "too-large"},
		{"accepted", nodeAddr, url + "anaconda.log", bearer(tok), logText, 200, ""},
		{"accepted, encoded slashes", nodeAddr, url + "..%2f..%2fks-script-x1.log", bearer(tok), "script output\n", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ev.list())
			code, body := do(t, tt.from, "POST", tt.path, tt.hdr, tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, clipBody(body))
			}
			evs := ev.list()[before:]
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(evs), evs)
			}
			e := evs[0]
			if tt.reason != "" {
				if e.Kind != "refused" || e.Attrs["reason"] != tt.reason || e.Attrs["what"] != "log" {
					t.Errorf("event %+v, want refused log: %s", e, tt.reason)
				}
				return
			}
			if e.Kind != KindLog || e.Source != "http" || e.Node != nodeName || e.IP != nodeAddr {
				t.Errorf("event %+v", e)
			}
			path := filepath.Join(dir, nodeName, e.Attrs["file"])
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if e.Attrs["bytes"] != strconv.Itoa(len(got)) {
				t.Errorf("event says %s bytes, the file has %d", e.Attrs["bytes"], len(got))
			}
			if strings.Contains(string(got), tok) {
				t.Errorf("the kept log holds the token:\n%s", got)
			}
		})
	}
	got, err := os.ReadFile(filepath.Join(dir, nodeName, "anaconda.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(logText, tok, "[token]"); string(got) != want {
		t.Errorf("anaconda.log = %q, want %q", got, want)
	}
	entries, err := os.ReadDir(filepath.Join(dir, nodeName))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range entries {
		names = append(names, d.Name())
	}
	if strings.Join(names, " ") != "anaconda.log ks-script-x1.log" {
		t.Errorf("kept %v, want anaconda.log and ks-script-x1.log only", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "compute02")); !os.IsNotExist(err) {
		t.Errorf("a refused upload made a directory: %v", err)
	}
}
