package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// rolloutSite is the staging site with an iDRAC simulator per node whose
// certificates are pinned in a fresh state directory.
func rolloutSite(t *testing.T) (site, eps, state string) {
	t.Helper()
	site, eps, _ = bmcSite(t)
	state = t.TempDir()
	if _, errOut, err := bmcCLI(t, "bmc", "trust", "--all", "--site", site, "--state", state, "--endpoints", eps); err != nil {
		t.Fatalf("bmc trust: %v\n%s", err, errOut)
	}
	return site, eps, state
}

func TestUpDryRun(t *testing.T) {
	site, eps, state := rolloutSite(t)
	out, errOut, err := bmcCLI(t, "up", "--dry-run", "--site", site, "--state", state, "--bmc-endpoints", eps)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{"controller01", "compute01", "install", "RAID-1 os /", "first controller",
		"actions (dry run", "BootSourceOverrideTarget=Pxe", "kickstart (redacted) sha256:", "netboot on"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "admin01") {
		t.Error("the appliance is in the rollout")
	}
	// Nothing happened.
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, _ := st.Events(store.Filter{Source: provision.SourceRollout})
	if len(evs) != 0 {
		t.Fatalf("dry run recorded %d rollout events", len(evs))
	}
}

func TestUpNotConfirmed(t *testing.T) {
	site, eps, state := rolloutSite(t)
	r := runCLI(t, nil, "no\n", "up", "compute01", "--site", site, "--state", state, "--bmc-endpoints", eps)
	if r.code != 1 || !strings.Contains(r.err.Error(), "not confirmed") {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
}

// TestUpStalledNode runs a real rollout of one node against its iDRAC
// simulator with no servers: MACs are discovered over Redfish, PXE set,
// the node powered on; it never DHCPs, so it is failed with the reason
// and its netboot is turned off.
func TestUpStalledNode(t *testing.T) {
	site, eps, state := rolloutSite(t)
	out, errOut, err := bmcCLI(t, "up", "compute01", "--yes", "--no-servers", "--site", site, "--state", state,
		"--bmc-endpoints", eps, "--dhcp-timeout", "300ms", "--retries", "1", "--stagger", "0")
	if err == nil || !strings.Contains(err.Error(), "1 of 1 nodes") {
		t.Fatalf("err %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"no DHCP request from em1", "gave up after 2 attempts", "powering-on"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	macs, _ := st.MACs()
	if macs["compute01"]["em1"] == "" {
		t.Errorf("MACs not discovered: %v", macs)
	}
	if on, set, _ := st.Flag("compute01", store.FlagNetboot); on || !set {
		t.Errorf("netboot on=%v set=%v after failing", on, set)
	}
	powers, _ := st.Events(store.Filter{Node: "compute01", Kind: provision.KindPower})
	if len(powers) < 2 {
		t.Errorf("%d power events, want one per attempt", len(powers))
	}
	st.Close()

	out, _, err = bmcCLI(t, "status", "--site", site, "--state", state, "compute01", "compute02")
	if err != nil || !strings.Contains(out, "failed") || !strings.Contains(out, "1 new, 1 failed") {
		t.Fatalf("status: %v\n%s", err, out)
	}
}

func TestRoleRefusals(t *testing.T) {
	site, eps, state := rolloutSite(t)
	r := runCLI(t, nil, "", "role", "admin01", "--site", site, "--state", state, "--bmc-endpoints", eps, "--yes")
	if r.code != 1 || !strings.Contains(r.err.Error(), "appliance") {
		t.Fatalf("role admin01: %v", r.err)
	}
	// Mark the controllers ready, then one of them failed: reinstalling
	// another would leave Galera without a majority.
	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"controller01", "controller02", "controller03"} {
		for _, k := range []struct{ src, kind string }{{"rollout", "begin"}, {"bmc", "pxe-set"}, {"bmc", "power"},
			{"dhcp", "lease"}, {"http", "kickstart"}, {"callback", "installed"}, {"ssh", "ssh-up"}, {"profile", "applied"}} {
			e := provision.Event{Node: n, Source: k.src, Kind: k.kind}
			if k.kind == "power" {
				e.Attrs = map[string]string{"action": "cycle"}
			}
			if k.kind == "kickstart" {
				// boot-file first: the state machine wants booting.
				if _, err := st.Append(provision.Event{Node: n, Source: "http", Kind: "boot-script"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Append(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.Append(provision.Event{Node: "controller03", Source: "rollout", Kind: "begin"})
	st.Append(provision.Event{Node: "controller03", Source: "rollout", Kind: "failed", Msg: "test"})
	st.Close()
	out, _, _ := bmcCLI(t, "status", "--site", site, "--state", state, "controller01", "controller02", "controller03")
	if !strings.Contains(out, "2 ready, 1 failed") {
		t.Fatalf("setup: %s", out)
	}
	r = runCLI(t, nil, "", "role", "controller01", "--site", site, "--state", state, "--bmc-endpoints", eps, "--yes")
	if r.code != 1 || !strings.Contains(r.err.Error(), "quorum") || !strings.Contains(r.err.Error(), "--force") {
		t.Fatalf("role controller01: %v", r.err)
	}
}

// freePort returns a TCP port free on loopback (and, almost surely, the
// same UDP port).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestServeAPI runs provision serve on loopback (no DHCP: nothing leaves
// this host) and drives it from the CLI: status and a rollout go through
// its API while it holds the state; a rollout without the token is
// refused.
func TestServeAPI(t *testing.T) {
	site, eps, state := rolloutSite(t)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	var serveOut, serveErr bytes.Buffer
	go func() {
		served <- run(ctx, []string{"serve", "--site", site, "--state", state, "--no-dhcp", "--addr", "127.0.0.1",
			"--http-port", freePort(t), "--tftp-port", freePort(t), "--bmc-endpoints", eps},
			strings.NewReader(""), &serveOut, &serveErr, func(string) string { return "" })
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, serveErr.String())
		}
	}()
	apiFile := filepath.Join(state, "api.json")
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(apiFile) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not record its API:\n%s", serveErr.String())
		}
		select {
		case err := <-served:
			t.Fatalf("serve ended: %v\n%s", err, serveErr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	out, errOut, err := bmcCLI(t, "status", "--site", site, "--state", state, "compute01")
	if err != nil || !strings.Contains(out, "compute01  new") {
		t.Fatalf("status through the API: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err = bmcCLI(t, "up", "compute01", "--yes", "--site", site, "--state", state,
		"--dhcp-timeout", "300ms", "--retries", "0", "--stagger", "0")
	if err == nil || !strings.Contains(errOut, "provision serve runs on this state") || !strings.Contains(out, "no DHCP request from em1") {
		t.Fatalf("up through the API: %v\n%s\n%s", err, out, errOut)
	}
	out, errOut, err = bmcCLI(t, "netboot", "off", "compute02", "--site", site, "--state", state)
	if err != nil || !strings.Contains(out, "compute02: netboot off (through provision serve)") {
		t.Fatalf("netboot through the API: %v\n%s%s", err, out, errOut)
	}
	// compute01 off since its rollout gave up, compute02 by hand,
	// compute03 as the site file says.
	out, errOut, err = bmcCLI(t, "netboot", "status", "compute01", "compute02", "compute03", "--site", site, "--state", state)
	if err != nil || !regexpLine(out, `^compute01\s+off\s+provision serve$`) || !regexpLine(out, `^compute02\s+off\s+provision serve$`) ||
		!regexpLine(out, `^compute03\s+on\s+provision serve$`) {
		t.Fatalf("netboot status through the API: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err = bmcCLI(t, "bmc", "pxe", "compute03", "--site", site, "--state", state)
	if err != nil || !strings.Contains(out, "compute03: pxe done (through provision serve)") {
		t.Fatalf("bmc pxe through the API: %v\n%s%s", err, out, errOut)
	}
	if _, _, err = bmcCLI(t, "bmc", "status", "compute03", "--site", site, "--state", state); err == nil || !strings.Contains(err.Error(), "its API has no") {
		t.Fatalf("bmc status while serve holds the state: %v", err)
	}
	// Without the token, no rollout.
	data, _ := os.ReadFile(apiFile)
	var rec struct{ URL string }
	json.Unmarshal(data, &rec)
	resp, err := http.Post(rec.URL+"/api/v1/rollouts", "application/json", strings.NewReader(`{"nodes":["compute02"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("rollout without a token: %s", resp.Status)
	}
}

// TestRoleAs asks before it rewrites the node's roles, and writes only a
// site that checks clean.
func TestRoleAs(t *testing.T) {
	site, eps, state := rolloutSite(t)
	before, _ := os.ReadFile(site)
	r := runCLI(t, nil, "no\n", "role", "compute01", "--as", "blockstorage", "--site", site, "--state", state, "--bmc-endpoints", eps)
	if r.code != 1 || !strings.Contains(r.err.Error(), "not confirmed") {
		t.Fatalf("declined: exit %d %v", r.code, r.err)
	}
	if after, _ := os.ReadFile(site); string(after) != string(before) {
		t.Fatal("the site file changed though the change was declined")
	}
	r = runCLI(t, nil, "yes\nno\n", "role", "compute01", "--as", "nosuchrole", "--site", site, "--state", state, "--bmc-endpoints", eps)
	if r.code != 1 || !strings.Contains(r.err.Error(), `role "nosuchrole" is not defined`) {
		t.Fatalf("bad role: exit %d %v", r.code, r.err)
	}
	r = runCLI(t, nil, "yes\nno\n", "role", "compute01", "--as", "blockstorage", "--site", site, "--state", state, "--bmc-endpoints", eps)
	if r.code != 1 || !strings.Contains(r.stdout, "compute01's roles are now blockstorage") || !strings.Contains(r.stdout, "volume group cinder-volumes") {
		t.Fatalf("as blockstorage: exit %d %v\n%s", r.code, r.err, r.stdout)
	}
}
