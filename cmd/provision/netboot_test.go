package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/store"
)

// TestNetboot turns nodes off and on by hand and reads the flags back
// through status and through the store.
func TestNetboot(t *testing.T) {
	site, state := copySite(t, "staging"), t.TempDir()
	cli := func(args ...string) result {
		return runCLI(t, nil, "", append([]string{"--site", site, "--state", state}, args...)...)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // whole output, when set
		contains string
	}{
		{name: "status before", args: []string{"netboot", "status", "compute01", "admin01"},
			stdout: "NODE       NETBOOT  FROM\ncompute01  on       site file\nadmin01    off      appliance, never installed\n"},
		{name: "off", args: []string{"netboot", "off", "compute01", "compute02"},
			stdout: "compute01: netboot off (was on)\ncompute02: netboot off (was on)\n"},
		{name: "on again", args: []string{"netboot", "on", "compute02"}, stdout: "compute02: netboot on (was off)\n"},
		{name: "status after", args: []string{"netboot", "status", "compute01", "compute02", "compute03"},
			stdout: "NODE       NETBOOT  FROM\ncompute01  off      state\ncompute02  on       state\ncompute03  on       site file\n"},
		{name: "unknown nodes, all named", args: []string{"netboot", "off", "nosuch", "compute01", "other"}, code: 1, contains: `node "other" is not in`},
		{name: "appliance refused", args: []string{"netboot", "on", "admin01"}, code: 1, contains: "is the appliance"},
		{name: "no node", args: []string{"netboot", "on"}, code: 1, contains: "requires at least 1 arg"},
		{name: "status of all", args: []string{"netboot", "status"}, contains: "swiftstorage04  on       site file\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %v\n%s", r.code, tt.code, r.err, r.stderr)
			}
			got := r.stdout
			if r.err != nil {
				got += r.err.Error()
			}
			if tt.stdout != "" {
				if d := cmp.Diff(tt.stdout, got); d != "" {
					t.Errorf("output (-want +got):\n%s", d)
				}
			}
			if tt.contains != "" && !strings.Contains(got, tt.contains) {
				t.Errorf("output lacks %q:\n%s", tt.contains, got)
			}
		})
	}
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(store.Filter{Source: "operator"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("operator events: %d %v", len(evs), err)
	}
	if on, set, _ := st.Flag("compute01", "netboot"); on || !set {
		t.Errorf("compute01 flag on=%v set=%v", on, set)
	}
}

// TestNetbootLocked: a store held by another process (here another open
// in this one: bbolt's flock is per open file) gives a clear error fast.
func TestNetbootLocked(t *testing.T) {
	site, state := copySite(t, "staging"), t.TempDir()
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := runCLI(t, nil, "", "--site", site, "--state", state, "netboot", "off", "compute01")
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "in use by another provision process") {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
	if _, set, _ := st.Flag("compute01", "netboot"); set {
		t.Errorf("flag was set through a locked store")
	}
}
