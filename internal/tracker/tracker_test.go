package tracker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

func ev(node, source, kind string, attrs ...string) provision.Event {
	e := provision.Event{Node: node, Source: source, Kind: kind}
	if len(attrs) == 2 {
		e.Attrs = map[string]string{attrs[0]: attrs[1]}
	}
	return e
}

func open(t *testing.T, dir string) (*store.Store, *Tracker) {
	t.Helper()
	st, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, tr
}

// TestReplayAfterRestart: the state is the fold of the stored log, so a
// restarted appliance finds every node where it was.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st, tr := open(t, dir)
	for _, e := range []provision.Event{
		ev("n1", provision.SourceRollout, provision.KindBegin),
		ev("n1", provision.SourceBMC, provision.KindPXESet),
		ev("n1", provision.SourceBMC, provision.KindPower, "action", "cycle"),
		ev("n1", provision.SourceDHCP, provision.KindLease),
		ev("n1", provision.SourceCallback, provision.KindInstalled), // illegal: not installing
		ev("n2", provision.SourceRollout, provision.KindBegin),
	} {
		if _, err := tr.RecordErr(e); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.Status("n1"); got.State != provision.StateDHCP || got.Refused != 1 {
		t.Fatalf("n1 %+v", got)
	}
	st.Close()
	st, tr2 := open(t, dir)
	defer st.Close()
	if got := tr2.Status("n1"); got.State != provision.StateDHCP || got.Attempt != 1 {
		t.Fatalf("after restart n1 %+v", got)
	}
	if got := tr2.Status("n2").State; got != provision.StateNew {
		t.Fatalf("n2 %s", got)
	}
}

func TestWait(t *testing.T) {
	st, tr := open(t, t.TempDir())
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan provision.Status, 1)
	go func() {
		s, _ := tr.Wait(ctx, "n1", func(s provision.Status) bool { return s.State == provision.StatePXESet })
		done <- s
	}()
	tr.Record(ev("n1", provision.SourceRollout, provision.KindBegin))
	tr.Record(ev("n1", provision.SourceBMC, provision.KindPXESet))
	if s := <-done; s.State != provision.StatePXESet {
		t.Fatalf("woke with %+v", s)
	}
	short, cancel2 := context.WithCancelCause(t.Context())
	cancel2(errors.New("gave up"))
	if _, err := tr.Wait(short, "n1", func(s provision.Status) bool { return false }); err == nil || err.Error() != "gave up" {
		t.Fatalf("Wait = %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	st, tr := open(t, t.TempDir())
	defer st.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch := tr.Subscribe(ctx, 4)
	tr.Record(ev("n1", provision.SourceRollout, provision.KindBegin))
	if u := <-ch; u.Event.Node != "n1" || u.Event.Seq == 0 || u.Status.State != provision.StateNew || u.Status.Attempt != 1 {
		t.Fatalf("%+v", u)
	}
	for range 10 { // more than the buffer: dropped, never blocking
		tr.Record(ev("n1", provision.SourceBMC, "preflight"))
	}
	cancel()
	n := 0
	for range ch {
		n++
	}
	if n != 4 {
		t.Fatalf("%d buffered events, want 4", n)
	}
}

// TestRecordBatch: a batch is stored and folded in its order, as the
// same events recorded one by one would be, and survives a restart.
func TestRecordBatch(t *testing.T) {
	dir := t.TempDir()
	st, tr := open(t, dir)
	tr.RecordBatch([]provision.Event{
		ev("n1", provision.SourceRollout, provision.KindBegin),
		ev("n1", provision.SourceBMC, provision.KindPXESet),
		ev("n2", provision.SourceRollout, provision.KindBegin),
		ev("n1", provision.SourceDHCP, provision.KindLease),
		ev("n1", provision.SourceHTTP, provision.KindBootScript),
	})
	if got := tr.Status("n1"); got.State != provision.StateBooting || got.Last.Kind != provision.KindBootScript || got.Last.Seq != 5 {
		t.Fatalf("n1 %+v, want booting after its boot script, seq 5", got)
	}
	if got := tr.Status("n2"); got.Attempt != 1 {
		t.Fatalf("n2 %+v", got)
	}
	st.Close()
	st, tr2 := open(t, dir)
	defer st.Close()
	if got := tr2.Status("n1"); got.State != provision.StateBooting {
		t.Fatalf("after restart n1 %+v", got)
	}
	// A closed store: the batch is refused whole.
	st.Close()
	tr2.RecordBatch([]provision.Event{ev("n1", provision.SourceDHCP, provision.KindLease)})
	if got := tr2.Status("n1"); got.State != provision.StateBooting || got.Last.Seq != 5 {
		t.Fatalf("n1 changed by a batch that was not stored: %+v", got)
	}
}
