package idracsim

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startServer serves a simulator on a loopback port until the test ends.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv := &Server{Sim: New(cfg)}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

// TestRedfishtool drives the simulator with DMTF's redfishtool (Debian
// package redfishtool), an independent Redfish client: the simulator must
// be Redfish, not only what gofish accepts.
func TestRedfishtool(t *testing.T) {
	bin, err := exec.LookPath("redfishtool")
	if err != nil {
		t.Skip("redfishtool not installed (apt-get install redfishtool)")
	}
	srv := startServer(t, Config{Node: "compute01", User: "root", Password: "calvin", PoweredOn: true})
	host := strings.TrimPrefix(srv.Endpoint(), "https://")
	run := func(t *testing.T, auth string, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		full := append([]string{"-r", host, "-u", "root", "-p", "calvin", "-S", "Always", "-A", auth}, args...)
		out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("redfishtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	rt := func(t *testing.T, auth string, args ...string) map[string]any {
		t.Helper()
		out := run(t, auth, args...)
		var v map[string]any
		if i := strings.IndexByte(string(out), '{'); i < 0 || json.Unmarshal(out[i:], &v) != nil {
			t.Fatalf("redfishtool %s: not JSON:\n%s", strings.Join(args, " "), out)
		}
		return v
	}
	for _, auth := range []string{"Basic", "Session"} {
		t.Run(auth, func(t *testing.T) {
			if v := rt(t, auth, "Systems", "-1", "get"); v["Id"] != "System.Embedded.1" || v["PowerState"] != "On" {
				t.Errorf("Systems get: Id %v PowerState %v", v["Id"], v["PowerState"])
			}
			if v := rt(t, auth, "Managers", "-1", "get"); v["Id"] != "iDRAC.Embedded.1" {
				t.Errorf("Managers get: Id %v", v["Id"])
			}
			v := rt(t, auth, "raw", "GET", SystemPath+"/EthernetInterfaces/NIC.Integrated.1-1-1")
			if v["MACAddress"] != srv.Sim.NICMACs()["NIC.Integrated.1-1-1"] {
				t.Errorf("NIC MAC %v, want %s", v["MACAddress"], srv.Sim.NICMACs()["NIC.Integrated.1-1-1"])
			}
			run(t, auth, "Systems", "-1", "setBootOverride", "Once", "Pxe")
			if target, enabled, _ := srv.Sim.BootOverride(); target != "Pxe" || enabled != "Once" {
				t.Errorf("after setBootOverride: %s %s", target, enabled)
			}
			boots := len(srv.Sim.Boots())
			run(t, auth, "Systems", "-1", "reset", "ForceRestart")
			if got := srv.Sim.Boots(); len(got) != boots+1 || !got[len(got)-1].PXE {
				t.Errorf("after reset ForceRestart: boots %+v", got)
			}
			if n := srv.Sim.Sessions(); n != 0 {
				t.Errorf("redfishtool left %d sessions open", n)
			}
		})
	}
}
