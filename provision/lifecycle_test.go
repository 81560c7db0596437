package provision

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ev(source, kind string, attrs ...string) Event {
	e := Event{Node: "compute05", Source: source, Kind: kind}
	for i := 0; i+1 < len(attrs); i += 2 {
		if e.Attrs == nil {
			e.Attrs = map[string]string{}
		}
		e.Attrs[attrs[i]] = attrs[i+1]
	}
	return e
}

// install is the event log of one good install, as the servers and the
// rollout engine write it.
func install() []Event {
	return []Event{
		ev(SourceRollout, KindBegin),
		ev(SourceBMC, KindDiscovered),
		ev(SourceBMC, KindPXESet),
		ev(SourceBMC, KindPower, "action", "cycle"),
		ev(SourceDHCP, KindLease),
		ev(SourceTFTP, KindTransfer),
		ev(SourceDHCP, KindLease), // iPXE's own DHCP
		ev(SourceHTTP, KindBootScript),
		ev(SourceHTTP, KindKickstart),
		ev(SourceCallback, KindProgress),
		ev(SourceCallback, KindInstalled),
		ev(SourceDHCP, KindLease), // the BIOS PXE-boots before the disk
		ev(SourceHTTP, KindBootScript),
		ev(SourceRollout, KindRebooting),
		ev(SourceSSH, KindSSHUp),
		ev(SourceProfile, KindApplied),
	}
}

func TestLifecycleHappyPath(t *testing.T) {
	want := []State{StateNew, StateDiscovered, StatePXESet, StatePoweringOn, StateDHCP,
		StateBooting, StateBooting, StateBooting, StateInstalling, StateInstalling,
		StateInstalled, StateInstalled, StateInstalled, StateRebooting, StateHandoff, StateReady}
	st := Status{Node: "compute05"}
	var got []State
	for i, e := range install() {
		e.Time = time.Unix(int64(i), 0)
		var err error
		st, err = Apply(st, e)
		if err != nil {
			t.Fatalf("event %d %s/%s: %v", i, e.Source, e.Kind, err)
		}
		got = append(got, st.State)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("states (-want +got):\n%s", d)
	}
	if st.Attempt != 1 || st.Refused != 0 || !st.Since.Equal(time.Unix(15, 0)) {
		t.Fatalf("status %+v", st)
	}
}

// TestLifecycleRetries: an attempt begun after a failed one is a retry;
// one begun from new or ready (a first install, a reinstall) starts the
// count again, by a rollout or by hand, while Attempt counts on.
func TestLifecycleRetries(t *testing.T) {
	begin := ev(SourceRollout, KindBegin)
	failed := ev(SourceRollout, KindFailed)
	byHand := ev(SourceHTTP, KindKickstart)
	steps := []struct {
		e                Event
		attempt, retries int
		state            State
	}{
		{begin, 1, 0, StateNew},
		{failed, 1, 0, StateFailed},
		{begin, 2, 1, StateNew},
		{failed, 2, 1, StateFailed},
		{byHand, 3, 2, StateInstalling}, // a failed node reinstalled by hand
		{failed, 3, 2, StateFailed},
		{begin, 4, 3, StateNew},
	}
	st := Status{Node: "compute05"}
	for i, s := range steps {
		var err error
		if st, err = Apply(st, s.e); err != nil {
			t.Fatalf("step %d %s/%s: %v", i, s.e.Source, s.e.Kind, err)
		}
		if st.Attempt != s.attempt || st.Retries != s.retries || st.State != s.state {
			t.Fatalf("step %d %s/%s: attempt %d, retries %d, %s; want %d, %d, %s",
				i, s.e.Source, s.e.Kind, st.Attempt, st.Retries, st.State, s.attempt, s.retries, s.state)
		}
	}
	// Installed: a reinstall, by a rollout or by hand, is no retry.
	for _, e := range install()[1:] {
		if st, _ = Apply(st, e); st.Retries != 3 {
			t.Fatalf("retries %d during the install", st.Retries)
		}
	}
	if st.State != StateReady {
		t.Fatalf("state %s", st.State)
	}
	for _, e := range []Event{byHand, begin} {
		next, err := Apply(st, e)
		if err != nil || next.Retries != 0 || next.Attempt != st.Attempt+1 {
			t.Fatalf("%s/%s from ready: attempt %d, retries %d, %v", e.Source, e.Kind, next.Attempt, next.Retries, err)
		}
	}
}

func TestLifecycleIllegal(t *testing.T) {
	tests := []struct {
		name  string
		state State
		event Event
	}{
		{"installed callback for a node not installing", StateNew, ev(SourceCallback, KindInstalled)},
		{"installed callback replayed after ready", StateReady, ev(SourceCallback, KindInstalled)},
		{"installed callback twice", StateInstalled, ev(SourceCallback, KindInstalled)},
		{"kickstart while powering on", StatePoweringOn, ev(SourceHTTP, KindKickstart)},
		{"kickstart after the install", StateInstalled, ev(SourceHTTP, KindKickstart)},
		{"kickstart during the handoff", StateHandoff, ev(SourceHTTP, KindKickstart)},
		{"begin while installing", StateInstalling, ev(SourceRollout, KindBegin)},
		{"begin while powering on", StatePoweringOn, ev(SourceRollout, KindBegin)},
		{"pxe-set while powering on", StatePoweringOn, ev(SourceBMC, KindPXESet)},
		{"profile applied before handoff", StateInstalled, ev(SourceProfile, KindApplied)},
		{"progress before the kickstart", StateBooting, ev(SourceCallback, KindProgress)},
		{"failed twice", StateFailed, ev(SourceRollout, KindFailed)},
		{"failed once ready", StateReady, ev(SourceRollout, KindFailed)},
		{"progress after install", StateInstalled, ev(SourceCallback, KindProgress)},
		{"ssh before install", StateBooting, ev(SourceSSH, KindSSHUp)},
		{"discovery in the middle of an install", StateBooting, ev(SourceBMC, KindDiscovered)},
		{"pxe-set while installing", StateInstalling, ev(SourceBMC, KindPXESet)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Status{Node: "compute05", State: tt.state, Reason: "r"}
			got, err := Apply(st, tt.event)
			var ill *IllegalTransition
			if !errors.As(err, &ill) {
				t.Fatalf("Apply = %v, want an illegal transition", err)
			}
			if got.State != tt.state || got.Refused != 1 || got.Reason != "r" {
				t.Fatalf("status changed: %+v", got)
			}
		})
	}
}

// TestLifecycleEveryPair applies every kind of event in every state: it
// is either refused with the state unchanged, or leads where the
// transition table says.
func TestLifecycleEveryPair(t *testing.T) {
	kinds := []Event{}
	kinds = append(kinds, install()...)
	kinds = append(kinds, ev(SourceRollout, KindFailed), ev(SourceBMC, KindPower, "action", "off"),
		ev(SourceBMC, "preflight"), ev(SourceDHCP, "discovered"), ev(SourceOperator, KindForget))
	legal := 0
	for _, s := range States() {
		for _, e := range kinds {
			got, err := Apply(Status{Node: "n", State: s}, e)
			if err != nil {
				if got.State != s {
					t.Errorf("%s + %s/%s refused but moved to %s", s, e.Source, e.Kind, got.State)
				}
				continue
			}
			legal++
			if e.Kind == KindForget || e.Kind == KindBegin {
				if got.State != StateNew {
					t.Errorf("%s + %s: %s, want new", s, e.Kind, got.State)
				}
				continue
			}
			tr := triggerOf(e, s)
			if tr == "" {
				if got.State != s {
					t.Errorf("%s + informational %s/%s moved to %s", s, e.Source, e.Kind, got.State)
				}
				continue
			}
			if to := transitions[tr].to; to != "" && got.State != to {
				t.Errorf("%s + %s/%s: %s, want %s", s, e.Source, e.Kind, got.State, to)
			}
		}
	}
	if legal == 0 {
		t.Fatal("nothing legal")
	}
}

// TestInstallByHand: a node an operator netboots by hand, with no
// rollout, stays where it was through its lease and boot files, is
// installing from its kickstart on (an attempt, by hand), installed at
// its callback, and a rollout that finds it then hands it off. A node
// that boots outside any install (its firmware tries PXE first, or its
// netboot went off before its kickstart) is left where it was, and no
// event of it is refused.
func TestInstallByHand(t *testing.T) {
	apply := func(t *testing.T, st Status, evs ...Event) Status {
		t.Helper()
		for i, e := range evs {
			e.Time = time.Unix(100+int64(i), 0)
			var err error
			if st, err = Apply(st, e); err != nil {
				t.Fatalf("event %d %s/%s: %v", i, e.Source, e.Kind, err)
			}
		}
		return st
	}
	boot := func(netboot string) []Event {
		return []Event{ev(SourceDHCP, KindLease), ev(SourceTFTP, KindTransfer), ev(SourceDHCP, KindLease),
			ev(SourceHTTP, KindBootScript, "netboot", netboot)}
	}
	for _, from := range []State{StateNew, StateDiscovered, StateReady, StateFailed} {
		t.Run(string(from), func(t *testing.T) {
			start := Status{Node: "compute05", State: from, Attempt: 1, Reason: "r"}
			if from != StateFailed {
				start.Reason = ""
			}
			st := apply(t, start, append([]Event{ev(SourceOperator, "netboot-on")}, boot("true")...)...)
			if st.State != from || st.ByHand || st.Attempt != 1 {
				t.Fatalf("before the kickstart: %+v", st)
			}
			st = apply(t, st, ev(SourceHTTP, KindKickstart))
			if st.State != StateInstalling || !st.ByHand || st.Attempt != 2 || st.Reason != "" || !st.Since.Equal(time.Unix(100, 0)) {
				t.Fatalf("after the kickstart: %+v", st)
			}
			if !st.State.Busy() || st.State.Rank() < StateInstalling.Rank() {
				t.Fatal("a rollout would not resume the node")
			}
			st = apply(t, st, ev(SourceCallback, KindProgress), ev(SourceCallback, KindInstalled))
			st = apply(t, st, boot("false")...)
			if st.State != StateInstalled {
				t.Fatalf("after the installed callback and the local boot: %+v", st)
			}
			// provision up resumes it: the handoff.
			st = apply(t, st, ev(SourceRollout, KindRebooting), ev(SourceSSH, KindSSHUp), ev(SourceProfile, KindApplied))
			if st.State != StateReady || st.Refused != 0 || st.Attempt != 2 {
				t.Fatalf("after the handoff: %+v", st)
			}
			// A rollout's own install is not by hand.
			if st = apply(t, st, ev(SourceRollout, KindBegin)); st.ByHand || st.State != StateNew {
				t.Fatalf("after begin: %+v", st)
			}
		})
	}
	t.Run("with the BMC commands", func(t *testing.T) {
		// provision netboot on; provision bmc pxe; provision bmc cycle.
		st := apply(t, Status{Node: "compute05", State: StateReady, Attempt: 1},
			append([]Event{ev(SourceOperator, "netboot-on"), ev(SourceBMC, KindPXESet),
				ev(SourceBMC, KindPower, "action", "cycle")}, boot("true")...)...)
		if st.State != StateReady || st.Refused != 0 {
			t.Fatalf("before the kickstart: %+v", st)
		}
		if st = apply(t, st, ev(SourceHTTP, KindKickstart)); st.State != StateInstalling || !st.ByHand {
			t.Fatalf("after the kickstart: %+v", st)
		}
	})
	t.Run("netboot off before the kickstart", func(t *testing.T) {
		start := Status{Node: "compute05", State: StateReady, Attempt: 1}
		st := apply(t, start, append(append([]Event{ev(SourceOperator, "netboot-on")}, boot("true")...),
			append([]Event{ev(SourceOperator, "netboot-off")}, boot("false")...)...)...)
		if st.State != StateReady || st.Refused != 0 || st.Attempt != 1 || st.ByHand {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("profile reboots the node", func(t *testing.T) {
		st := apply(t, Status{Node: "compute05", State: StateHandoff}, boot("false")...)
		if st.State != StateHandoff || st.Refused != 0 {
			t.Fatalf("%+v", st)
		}
	})
}

// TestLostLease: a boot file fetched is evidence of the lease whose event
// was dropped.
func TestLostLease(t *testing.T) {
	st, err := Apply(Status{Node: "n", State: StatePoweringOn}, ev(SourceTFTP, KindTransfer))
	if err != nil || st.State != StateBooting {
		t.Fatalf("%+v %v", st, err)
	}
}

// TestPowerEventAfterLease: a node may DHCP before the BMC call that
// powered it returns; the late power event does not undo the lease.
func TestPowerEventAfterLease(t *testing.T) {
	st := Status{Node: "compute05", State: StatePXESet}
	for _, e := range []Event{ev(SourceDHCP, KindLease), ev(SourceTFTP, KindTransfer), ev(SourceBMC, KindPower, "action", "cycle"),
		ev(SourceHTTP, KindKickstart)} {
		var err error
		if st, err = Apply(st, e); err != nil {
			t.Fatalf("%s/%s: %v", e.Source, e.Kind, err)
		}
	}
	if st.State != StateInstalling {
		t.Fatalf("state %s, want installing", st.State)
	}
}

func TestFailedKeepsReasonUntilBegin(t *testing.T) {
	st, _ := Apply(Status{Node: "n", State: StateDHCP}, Event{Node: "n", Source: SourceRollout, Kind: KindFailed, Msg: "no kickstart fetched within 10m"})
	if st.State != StateFailed || st.Reason != "no kickstart fetched within 10m" {
		t.Fatalf("%+v", st)
	}
	st, err := Apply(st, ev(SourceRollout, KindBegin))
	if err != nil || st.State != StateNew || st.Reason != "" || st.Attempt != 1 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestFold(t *testing.T) {
	plan, probs := loadBuild(t, writeSite(t, "paper", exampleSite(t, "paper")))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	log := install()[:9] // up to the kickstart
	log = append(log, Event{Node: "compute06", Source: SourceCallback, Kind: KindInstalled}, Event{Source: SourceDHCP, Kind: "discovered", MAC: "aa:bb:cc:dd:ee:ff"})
	var refused []error
	m := Fold(plan, log, func(err error) { refused = append(refused, err) })
	if len(m) != 27 {
		t.Fatalf("%d statuses", len(m))
	}
	if m["compute05"].State != StateInstalling || m["compute06"].State != StateNew || m["admin01"].State != StateNew {
		t.Fatalf("compute05 %s compute06 %s", m["compute05"].State, m["compute06"].State)
	}
	if len(refused) != 1 || m["compute06"].Refused != 1 {
		t.Fatalf("refused %v", refused)
	}
	sorted := SortedStatuses(plan, m)
	if sorted[0].Node != "admin01" || sorted[len(sorted)-1].Node[:7] != "compute" {
		t.Fatalf("order %s ... %s", sorted[0].Node, sorted[len(sorted)-1].Node)
	}
}
