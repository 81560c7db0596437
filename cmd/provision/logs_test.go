package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// appendEvents records events in the state directory's store.
func appendEvents(t *testing.T, state string, evs ...provision.Event) {
	t.Helper()
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range evs {
		if _, err := st.Append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func writeLog(t *testing.T, state, node, name, text string) {
	t.Helper()
	dir := filepath.Join(state, "logs", node)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLogsShowsEventsAndFiles(t *testing.T) {
	site, state := copySite(t, "staging"), t.TempDir()
	appendEvents(t, state,
		provision.Event{Node: "compute01", Source: "http", Kind: "kickstart", Msg: "an earlier install"},
		provision.Event{Node: "compute01", Source: provision.SourceRollout, Kind: provision.KindBegin},
		provision.Event{Node: "compute01", Source: "http", Kind: "kickstart", IP: "10.3.1.40"},
		provision.Event{Node: "compute02", Source: "http", Kind: "kickstart", Msg: "another node"},
		provision.Event{Node: "compute01", Source: "http", Kind: "log", IP: "10.3.1.40", Msg: "installer log anaconda.log (40 bytes)",
			Attrs: map[string]string{"file": "anaconda.log", "bytes": "40"}},
	)
	writeLog(t, state, "compute01", "anaconda.log", "12:00:01 INFO: one\n12:00:02 INFO: two\n")
	writeLog(t, state, "compute01", ".upload-123", "half an upload")
	writeLog(t, state, "compute02", "anaconda.log", "compute02's log\n")

	r := runCLI(t, nil, "", "--site", site, "--state", state, "logs", "compute01")
	if r.err != nil {
		t.Fatalf("logs: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"events of compute01 (3):", "rollout/begin", "http/kickstart", "10.3.1.40 installer log anaconda.log (40 bytes)",
		"==> anaconda.log (", "12:00:01 INFO: one\n12:00:02 INFO: two\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, absent := range []string{"an earlier install", "another node", "compute02's log", "half an upload"} {
		if strings.Contains(r.stdout, absent) {
			t.Errorf("output has %q:\n%s", absent, r.stdout)
		}
	}

	r = runCLI(t, nil, "", "--site", site, "--state", state, "logs", "compute01", "--lines", "1")
	if !strings.Contains(r.stdout, "INFO: two") || strings.Contains(r.stdout, "INFO: one") {
		t.Errorf("--lines 1:\n%s", r.stdout)
	}
	if r := runCLI(t, nil, "", "--site", site, "--state", state, "logs", "nosuch"); r.err == nil || !strings.Contains(r.err.Error(), "nosuch") {
		t.Errorf("unknown node: %v", r.err)
	}
	if r := runCLI(t, nil, "", "--site", site, "--state", state, "logs", "compute03"); r.err != nil || !strings.Contains(r.stdout, "no installer logs of compute03 yet") {
		t.Errorf("node without logs: %v\n%s", r.err, r.stdout)
	}
}

// TestLogsWhileServeHoldsState: the log files are read directly and the
// events are said to be in serve's API.
func TestLogsWhileServeHoldsState(t *testing.T) {
	site, state := copySite(t, "staging"), t.TempDir()
	writeLog(t, state, "compute01", "ks-post.log", "post output\n")
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := runCLI(t, nil, "", "--site", site, "--state", state, "logs", "compute01")
	if r.err != nil {
		t.Fatalf("logs: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"'provision serve' holds", "/api/v1/nodes/compute01", "==> ks-post.log", "post output"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestLogsFollow: each poll prints only what is new: events, new lines of
// a log, a new log; follow polls on its ticks and ends with its context.
func TestLogsFollow(t *testing.T) {
	state := t.TempDir()
	appendEvents(t, state, provision.Event{Node: "compute01", Source: "http", Kind: "kickstart"})
	writeLog(t, state, "compute01", "ks-pre.log", "pre line 1\n")
	var out bytes.Buffer
	v := newLogView(&out, state, "compute01", 0)
	if err := v.poll(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "http/kickstart") || !strings.Contains(out.String(), "pre line 1") {
		t.Fatalf("first poll:\n%s", out.String())
	}

	out.Reset()
	if err := v.poll(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("a poll with nothing new printed:\n%s", out.String())
	}

	appendEvents(t, state, provision.Event{Node: "compute01", Source: "http", Kind: "log", Attrs: map[string]string{"file": "anaconda.log"}})
	writeLog(t, state, "compute01", "ks-pre.log", "pre line 1\npre line 2\n")
	writeLog(t, state, "compute01", "anaconda.log", "anaconda line\n")
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.follow(ctx, tick) }()
	tick <- time.Now() // received: the poll runs
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"http/log", "anaconda.log", "pre line 2", "anaconda line"} {
		if !strings.Contains(got, want) {
			t.Errorf("follow lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "pre line 1") || strings.Contains(got, "http/kickstart") {
		t.Errorf("follow printed old lines again:\n%s", got)
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb\n"},
		{"", 1, ""},
	} {
		if got := string(lastLines([]byte(c.in), c.n)); got != c.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
