package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// TestDiscoveredLists: discovered events fold into one row per MAC.
func TestDiscoveredLists(t *testing.T) {
	state := t.TempDir()
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, e := range []provision.Event{
		{Kind: "discovered", MAC: "02:00:00:00:99:01", Attrs: map[string]string{"firmware": "bios", "arch": "0", "vendor_class": "PXEClient:Arch:00000:UNDI:002001"}},
		{Kind: "discovered", MAC: "02:00:00:00:99:02", Attrs: map[string]string{"firmware": "efi", "arch": "7", "relay": "10.3.1.1"}},
		{Kind: "lease", Node: "compute01", MAC: "02:00:00:00:40:01"},
		{Kind: "discovered", MAC: "02:00:00:00:99:01", Attrs: map[string]string{"firmware": "bios", "arch": "0", "user_class": "iPXE"}},
	} {
		e.Source, e.Time = "dhcp", t0.Add(time.Duration(i)*time.Minute)
		if _, err := st.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	r := runCLI(t, nil, "", "discovered", "--state", state, "--json")
	if r.err != nil {
		t.Fatalf("discovered --json: %v\n%s", r.err, r.stderr)
	}
	var got []discoveredMAC
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := []discoveredMAC{
		{MAC: "02:00:00:00:99:01", FirstSeen: t0, LastSeen: t0.Add(3 * time.Minute), Seen: 2, Firmware: "bios", Arch: "0", UserClass: "iPXE"},
		{MAC: "02:00:00:00:99:02", FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Minute), Seen: 1, Firmware: "efi", Arch: "7", Relay: "10.3.1.1"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("discovered --json (-want +got):\n%s", d)
	}
	r = runCLI(t, nil, "", "discovered", "--state", state)
	if r.err != nil || !strings.Contains(r.stdout, "02:00:00:00:99:01") || !strings.Contains(r.stdout, "bios (iPXE)") {
		t.Errorf("discovered: %v\n%s", r.err, r.stdout)
	}
}

func TestDHCPFlags(t *testing.T) {
	site := copySite(t, "paper")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dhcp"}, "--interface is required"},
		{[]string{"dhcp", "-i", "lo", "--pool", "10.3.1.9"}, "--pool"},
		{[]string{"dhcp", "-i", "lo", "--no-probe", "--pool", "10.3.1.5-10.3.1.15"}, "holds 10.3.1.10"},
	} {
		r := runCLI(t, nil, "", append(tc.args, "--site", site, "--state", t.TempDir())...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to say %q", tc.args, r.err, tc.want)
		}
	}
}

// syncBuffer collects log output and signals each write.
type syncBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitFor waits until the output contains sub n times.
func (s *syncBuffer) waitFor(t *testing.T, sub string, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		ok := strings.Count(s.b.String(), sub) >= n
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.wrote:
		case <-deadline:
			t.Fatalf("log never said %q:\n%s", sub, s.b.String())
		}
	}
}

// TestDHCPCommandInNamespace runs 'provision dhcp' in-process inside a
// network namespace: udhcpc in a second namespace gets compute01's
// address (its MAC learnt over the BMC, so only in the store), an unknown
// MAC is listed by 'provision discovered', and SIGHUP reloads the plan.
func TestDHCPCommandInNamespace(t *testing.T) {
	netnstest.Require(t)
	if _, err := exec.LookPath("udhcpc"); err != nil {
		t.Skip("needs udhcpc (make deps installs it)")
	}
	site, state := copySite(t, "paper"), t.TempDir()
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMACs("compute01", map[string]string{"em1": "02:00:00:00:40:01"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	srvNS, cliNS := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, srvNS, "pv-srv", "10.3.1.10/24", cliNS, "pv-cli", "", "02:00:00:00:40:01")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{wrote: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		// The command opens its sockets on this thread, inside srvNS.
		done <- srvNS.Do(func() error {
			return run(ctx, []string{"dhcp", "-i", "pv-srv", "--no-probe", "--site", site, "--state", state},
				strings.NewReader(""), logs, logs, func(string) string { return "" })
		})
	}()
	logs.waitFor(t, "dhcp serving", 1)

	udhcpc := func(mac string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := exec.CommandContext(ctx, "ip", "-n", cliNS.Name, "link", "set", "pv-cli", "address", mac).Run(); err != nil {
			t.Fatal(err)
		}
		out, err := cliNS.Command(ctx, "udhcpc", "-i", "pv-cli", "-f", "-q", "-n", "-t", "2", "-T", "1",
			"-s", "/bin/true", "-V", "PXEClient:Arch:00000:UNDI:002001").CombinedOutput()
		return string(out), err
	}
	if out, err := udhcpc("02:00:00:00:40:01"); err != nil || !strings.Contains(out, "lease of 10.3.1.40 obtained") {
		t.Fatalf("compute01's udhcpc: %v\n%s", err, out)
	}
	if out, err := udhcpc("02:00:00:00:99:77"); err == nil {
		t.Fatalf("unknown MAC got a lease:\n%s", out)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Once at the start, once on SIGHUP.
	logs.waitFor(t, `msg="plan reloaded" nodes=27`, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dhcp: %v\n%s", err, logs.b.String())
	}

	r := runCLI(t, nil, "", "discovered", "--state", state, "--json")
	var got []discoveredMAC
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].MAC != "02:00:00:00:99:77" || got[0].Firmware != "bios" {
		t.Fatalf("discovered: %v %+v\n%s", err, got, r.stderr)
	}
	st, err = store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	leases, err := st.Events(store.Filter{Node: "compute01", Kind: "lease"})
	if err != nil || len(leases) != 1 || leases[0].IP != "10.3.1.40" {
		t.Errorf("compute01's lease events: %v %+v", err, leases)
	}
}
