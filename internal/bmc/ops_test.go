package bmc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/provision"
)

// r620NICs are an R620's integrated ports as the plan names them.
func r620NICs() []provision.NIC {
	return []provision.NIC{
		{Name: "em1", RedfishID: "NIC.Integrated.1-1-1"},
		{Name: "em2", RedfishID: "NIC.Integrated.1-2-1"},
		{Name: "em3", RedfishID: "NIC.Integrated.1-3-1"},
		{Name: "em4", RedfishID: "NIC.Integrated.1-4-1"},
	}
}

func TestStatus(t *testing.T) {
	for _, sessions := range []bool{false, true} {
		srv := startSim(t, idracsim.Config{Node: "controller01", ServiceTag: "ABC1234", PoweredOn: true})
		cfg := testConfig(srv)
		cfg.Sessions = sessions
		var ev events
		cfg.Events = ev.sink
		st, err := newClient(t, cfg).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := Status{Node: "controller01", Endpoint: srv.Endpoint(), Model: "PowerEdge R620", ServiceTag: "ABC1234",
			BIOS: "2.9.0", Firmware: "2.65.65.65", Power: "On", BootTarget: "None", BootEnabled: "Disabled",
			BootMode: "Legacy", Health: "OK", ResetTypes: []string{"On", "ForceOff", "ForceRestart", "GracefulShutdown", "PushPowerButton", "Nmi"}}
		if d := cmp.Diff(want, st); d != "" {
			t.Errorf("sessions=%v: status (-want +got):\n%s", sessions, d)
		}
		if d := cmp.Diff([]string{"bmc-status"}, ev.kinds()); d != "" {
			t.Errorf("events (-want +got):\n%s", d)
		}
		noSessions(t, srv.Sim)
	}
}

func TestDiscover(t *testing.T) {
	srv := startSim(t, idracsim.Config{Node: "compute01", NICs: []string{
		"NIC.Integrated.1-1-1", "NIC.Integrated.1-2-1", "NIC.Integrated.1-3-1", "NIC.Integrated.1-4-1", "NIC.Slot.2-1-1"}})
	nics := r620NICs()
	nics = append(nics, provision.NIC{Name: "p3p1", RedfishID: "NIC.Slot.3-1-1"})
	nics[1].MAC = "02:00:00:00:00:01" // the site file is wrong about em2
	simMACs := srv.Sim.NICMACs()
	lower := func(id string) string { return strings.ToLower(simMACs[id]) }
	var ev events
	cfg := testConfig(srv)
	cfg.Events = ev.sink
	got, err := newClient(t, cfg).Discover(t.Context(), nics)
	if err != nil {
		t.Fatal(err)
	}
	want := Discovery{
		Node: "compute01",
		MACs: map[string]string{"em1": lower("NIC.Integrated.1-1-1"), "em2": lower("NIC.Integrated.1-2-1"),
			"em3": lower("NIC.Integrated.1-3-1"), "em4": lower("NIC.Integrated.1-4-1")},
		Missing:   []string{"p3p1 (NIC.Slot.3-1-1)"},
		Extra:     []string{"NIC.Slot.2-1-1"},
		Conflicts: []Conflict{{NIC: "em2", Site: "02:00:00:00:00:01", Discovered: lower("NIC.Integrated.1-2-1")}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("discovery (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"discovered", "mac-conflict"}, ev.kinds()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	// The MACs are stable: a second simulator of the node has the same.
	if d := cmp.Diff(simMACs, idracsim.New(idracsim.Config{Node: "compute01", NICs: []string{
		"NIC.Integrated.1-1-1", "NIC.Integrated.1-2-1", "NIC.Integrated.1-3-1", "NIC.Integrated.1-4-1", "NIC.Slot.2-1-1"}}).NICMACs()); d != "" {
		t.Errorf("MACs not stable:\n%s", d)
	}
	noSessions(t, srv.Sim)
}

func TestPXE(t *testing.T) {
	tests := []struct {
		name       string
		simMode    string
		mode       string
		twice      bool
		wantMode   string
		wantWrites int
	}{
		{name: "mode unchanged is not written", simMode: "Legacy", mode: "Legacy", wantMode: "Legacy"},
		{name: "no mode asked", simMode: "UEFI", mode: "", wantMode: "UEFI"},
		{name: "mode change queues one BIOS job", simMode: "Legacy", mode: "UEFI", wantMode: "UEFI", wantWrites: 1},
		{name: "second run changes nothing", simMode: "Legacy", mode: "UEFI", twice: true, wantMode: "UEFI", wantWrites: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, idracsim.Config{BootMode: tt.simMode})
			c := newClient(t, testConfig(srv))
			for range 1 + btoi(tt.twice) {
				if err := c.PXE(t.Context(), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			target, enabled, mode := srv.Sim.BootOverride()
			if d := cmp.Diff([]string{"Pxe", "Once", tt.wantMode}, []string{target, enabled, mode}); d != "" {
				t.Errorf("boot override (-want +got):\n%s", d)
			}
			if got := srv.Sim.ModeWrites(); got != tt.wantWrites {
				t.Errorf("BootSourceOverrideMode written %d times, want %d", got, tt.wantWrites)
			}
			noSessions(t, srv.Sim)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPower(t *testing.T) {
	noRestart := []string{"On", "ForceOff", "GracefulShutdown"}
	tests := []struct {
		name       string
		on         bool
		resetTypes []string
		action     Action
		pxe        bool
		wantPower  string
		wantBoots  []idracsim.Boot
		wantErr    error
	}{
		{name: "on from off", action: On, wantPower: "On", wantBoots: []idracsim.Boot{{}}},
		{name: "on while on is done", on: true, action: On, wantPower: "On"},
		{name: "off", on: true, action: Off, wantPower: "Off"},
		{name: "off while off", action: Off, wantPower: "Off"},
		{name: "shutdown", on: true, action: Shutdown, wantPower: "Off"},
		{name: "cycle restarts into PXE", on: true, pxe: true, action: Cycle, wantPower: "On", wantBoots: []idracsim.Boot{{PXE: true}}},
		{name: "cycle from off powers on", action: Cycle, wantPower: "On", wantBoots: []idracsim.Boot{{}}},
		{name: "cycle without ForceRestart is ForceOff then On", on: true, resetTypes: noRestart, action: Cycle, wantPower: "On", wantBoots: []idracsim.Boot{{}}},
		{name: "shutdown not allowed", on: true, resetTypes: []string{"On", "ForceOff"}, action: Shutdown, wantPower: "On", wantErr: ErrNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, idracsim.Config{PoweredOn: tt.on, ResetTypes: tt.resetTypes})
			c := newClient(t, testConfig(srv))
			if tt.pxe {
				if err := c.PXE(t.Context(), ""); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Power(t.Context(), tt.action)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Power(%s) = %v, want %v", tt.action, err, tt.wantErr)
			}
			if got := srv.Sim.PowerState(); got != tt.wantPower {
				t.Errorf("power %s, want %s", got, tt.wantPower)
			}
			boots := srv.Sim.Boots()
			for i := range boots {
				boots[i].Time = time.Time{}
			}
			if d := cmp.Diff(tt.wantBoots, boots); d != "" {
				t.Errorf("boots (-want +got):\n%s", d)
			}
			if tt.pxe {
				// The one-time override was consumed by the boot.
				if _, enabled, _ := srv.Sim.BootOverride(); enabled != "Disabled" {
					t.Errorf("override still %s after the boot", enabled)
				}
			}
			noSessions(t, srv.Sim)
		})
	}
}

// TestAlreadyOnIsSuccess: the server came on between the read of its
// state and the reset; the iDRAC's 409 PSU501 means the goal holds.
func TestAlreadyOnIsSuccess(t *testing.T) {
	srv := startSim(t, idracsim.Config{PoweredOn: true})
	c := newClient(t, testConfig(srv))
	err := c.do(t.Context(), "race", func(ctx context.Context, s *session) error {
		sys, err := s.system()
		if err != nil {
			return err
		}
		return s.reset(sys, "On")
	})
	if err != nil {
		t.Fatalf("reset On while on: %v", err)
	}
	noSessions(t, srv.Sim)
}

// TestPowerWaitsForState runs a power-on that takes 30 simulated seconds:
// the client waits for PoweringOn to become On, then gives up at its
// deadline when the clock does not move.
func TestPowerWaitsForState(t *testing.T) {
	clock := idracsim.NewManualClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	srv := startSim(t, idracsim.Config{PowerDelay: 30 * time.Second, Clock: clock})
	c := newClient(t, testConfig(srv))
	changed := clock.Changed()
	done := make(chan error, 1)
	go func() { done <- c.Power(t.Context(), On) }()
	<-changed // the iDRAC accepted the reset and started the transition
	if got := srv.Sim.PowerState(); got != "PoweringOn" {
		t.Fatalf("power %s during the transition", got)
	}
	clock.Advance(30 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(srv)
	cfg.Timeouts.Power = 50 * time.Millisecond
	err := newClient(t, cfg).Power(t.Context(), Off)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Power(off) with a stuck clock = %v, want ErrTimeout", err)
	}
	noSessions(t, srv.Sim)
}

// TestOneCallAtATime: concurrent operations on one client reach the
// iDRAC one after the other.
func TestOneCallAtATime(t *testing.T) {
	srv := startSim(t, idracsim.Config{})
	c := newClient(t, testConfig(srv))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			_, err := c.Status(t.Context())
			errs <- err
		})
		wg.Go(func() {
			_, err := c.Discover(t.Context(), r620NICs())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.Sim.MaxInFlight(); got != 1 {
		t.Errorf("%d requests in flight at once, want 1", got)
	}
	noSessions(t, srv.Sim)
}

func TestPreflight(t *testing.T) {
	srv := startSim(t, idracsim.Config{})
	srv.Sim.AddPendingJob("Configure: BIOS.Setup.1-1")
	p := newClient(t, testConfig(srv)).Preflight(t.Context())
	want := Preflight{Node: "compute01", Endpoint: srv.Endpoint(), Reachable: true, Credentials: true,
		Trust: "pinned sha256 " + srv.Fingerprint()[:16] + "...", Firmware: "2.65.65.65", Power: "Off",
		ResetTypes:  []string{"On", "ForceOff", "ForceRestart", "GracefulShutdown", "PushPowerButton", "Nmi"},
		PXEWritable: true, PendingJobs: p.PendingJobs, Problems: []string{"1 pending configuration jobs"}}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("preflight (-want +got):\n%s", d)
	}
	if len(p.PendingJobs) != 1 || !strings.HasPrefix(p.PendingJobs[0], "JID_") {
		t.Errorf("pending jobs %q", p.PendingJobs)
	}
	noSessions(t, srv.Sim)

	old := startSim(t, idracsim.Config{Firmware: "2.30.30.30", ResetTypes: []string{"On", "GracefulShutdown"}})
	p = newClient(t, testConfig(old)).Preflight(t.Context())
	wantProblems := []string{"ResetType ForceOff not allowed", "iDRAC firmware 2.30.30.30 is older than 2.40.40.40, which Dell's iDRAC7/8 Redfish support needs"}
	if d := cmp.Diff(wantProblems, p.Problems); d != "" {
		t.Errorf("old iDRAC problems (-want +got):\n%s", d)
	}
}
