package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// bmcSite copies the staging site and its secrets into a temporary
// directory (git does not keep the secrets file's 0600) and starts one
// simulated iDRAC per node on loopback ports. It returns the site file,
// the endpoints file and the fleet.
func bmcSite(t *testing.T) (string, string, *idracsim.Fleet) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"staging.toml", "staging.secrets.toml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "sites", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site := filepath.Join(dir, "staging.toml")
	s, probs := provision.Load(site)
	if len(probs.Errors()) > 0 {
		t.Fatalf("site: %v", probs)
	}
	plan, _ := provision.Build(s, provision.Options{})
	var cfgs []idracsim.Config
	for _, n := range plan.Nodes {
		cred := s.Secrets.IDRACFor(n.Name)
		cfgs = append(cfgs, idracsim.ConfigFor(n, cred.User, cred.Password.Reveal()))
	}
	fleet := idracsim.NewFleet("127.0.0.1", 0, cfgs)
	if err := fleet.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fleet.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet: %v", err)
		}
	})
	data, _ := json.Marshal(fleet.Endpoints())
	eps := filepath.Join(dir, "endpoints.json")
	if err := os.WriteFile(eps, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return site, eps, fleet
}

// bmcCLI runs the CLI in-process and returns stdout, stderr and the error.
func bmcCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return out.String(), errb.String(), err
}

func TestBMCCommands(t *testing.T) {
	site, eps, fleet := bmcSite(t)
	state := t.TempDir()
	bmcArgs := func(args ...string) []string {
		return append([]string{"--site", site, "--state", state, "bmc", "--endpoints", eps}, args...)
	}
	// Before trust, nothing talks to an iDRAC without --insecure.
	if _, stderr, err := bmcCLI(t, bmcArgs("status", "compute01")...); err == nil || !strings.Contains(stderr, "provision bmc trust compute01") {
		t.Fatalf("status before trust: %v\n%s", err, stderr)
	}
	out, stderr, err := bmcCLI(t, bmcArgs("trust", "--all")...)
	if err != nil || strings.Count(out, ": pinned sha256:") != len(fleet.Servers) {
		t.Fatalf("trust --all: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err = bmcCLI(t, bmcArgs("preflight", "--all")...); err != nil || strings.Count(out, "yes\n") != len(fleet.Servers) {
		t.Fatalf("preflight: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = bmcCLI(t, bmcArgs("discover", "--json", "compute01")...)
	if err != nil {
		t.Fatalf("discover: %v\n%s", err, stderr)
	}
	var ds []struct{ MACs map[string]string }
	if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("discover --json: %v\n%s", err, out)
	}
	sim, _ := fleet.Sim("compute01")
	if got, want := ds[0].MACs["em1"], strings.ToLower(sim.NICMACs()["NIC.Integrated.1-1-1"]); got != want {
		t.Errorf("em1 = %s, want %s", got, want)
	}
	for _, args := range [][]string{{"pxe", "compute01"}, {"power", "cycle", "compute01"}, {"status", "compute01"}} {
		if out, stderr, err := bmcCLI(t, bmcArgs(args...)...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, stderr)
		}
	}
	if boots := sim.Boots(); len(boots) != 1 || !boots[0].PXE {
		t.Errorf("compute01 boots %+v, want one PXE boot", boots)
	}
	if _, _, err := bmcCLI(t, bmcArgs("power", "on", "admin01")...); err == nil {
		t.Error("the appliance was powered")
	}

	st, err := store.Open(state, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	macs, err := st.MACs()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ds[0].MACs, macs["compute01"]); d != "" {
		t.Errorf("recorded MACs (-discovered +recorded):\n%s", d)
	}
	evs, err := st.Events(store.Filter{Node: "compute01", Source: "bmc"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"bmc-trust", "preflight", "discovered", "pxe-set", "power", "bmc-status"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("compute01 events (-want +got):\n%s", d)
	}
}

// TestBMCEndpointPassword: an iDRAC not in the inventory, with a wrong
// then a right password; the password never appears in the output.
func TestBMCEndpointPassword(t *testing.T) {
	const pass = `s3cr$t;"'` + "`x`"
	srv := &idracsim.Server{Sim: idracsim.New(idracsim.Config{Node: "new", User: "root", Password: pass})}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	for _, tt := range []struct {
		password string
		ok       bool
	}{{"wrong-" + pass, false}, {pass, true}} {
		if err := os.WriteFile(pw, []byte(tt.password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := bmcCLI(t, "--state", dir, "bmc", "status", "--endpoint", srv.Endpoint(), "--password-file", pw, "--insecure")
		if (err == nil) != tt.ok {
			t.Errorf("password ok=%v: err %v\n%s", tt.ok, err, stderr)
		}
		if !strings.Contains(stderr, "WARNING: --insecure") {
			t.Errorf("--insecure not said:\n%s", stderr)
		}
		if !tt.ok && !strings.Contains(stderr, "check the user and password") {
			t.Errorf("wrong password not explained:\n%s", stderr)
		}
		if strings.Contains(out+stderr, pass) {
			t.Errorf("the password was echoed:\n%s%s", out, stderr)
		}
	}
}

// TestBMCSim runs 'provision bmc-sim --nodes 2' and talks to what it
// prints.
func TestBMCSim(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--state", t.TempDir(), "bmc-sim", "--nodes", "2", "--json", "--power-delay", "0"}, strings.NewReader(""), pw, io.Discard, func(string) string { return "" })
		pw.Close()
	}()
	var rows []struct{ Node, Endpoint, SHA256 string }
	dec := json.NewDecoder(bufio.NewReader(pr))
	if err := dec.Decode(&rows); err != nil || len(rows) != 2 || rows[0].Node != "node01" {
		t.Fatalf("endpoint map: %v %+v", err, rows)
	}
	go io.Copy(io.Discard, pr) // the goroutine ends when the pipe closes
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("calvin"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	if out, stderr, err := bmcCLI(t, "--state", state, "bmc", "trust", "node02", "--endpoint", rows[1].Endpoint, "--password-file", pwFile); err != nil || !strings.Contains(out, rows[1].SHA256) {
		t.Fatalf("trust: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := bmcCLI(t, "--state", state, "bmc", "power", "on", "node02", "--endpoint", rows[1].Endpoint, "--password-file", pwFile); err != nil {
		t.Fatalf("power on: %v\n%s%s", err, out, stderr)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("bmc-sim: %v", err)
	}
}
