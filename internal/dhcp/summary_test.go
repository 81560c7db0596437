package dhcp

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"
)

// recordHandler sends each log record's message and attributes down a
// channel.
type recordHandler struct{ ch chan<- map[string]any }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	h.ch <- m
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// serveFlood serves n copies of a DISCOVER with a summary every
// interval, logging into the returned channel; cancel stops Serve, whose
// result done then gives.
func serveFlood(t *testing.T, n int, every time.Duration) (*Server, <-chan map[string]any, context.CancelFunc, <-chan error) {
	conn := newFloodConn(readDir(t, "packets")["udhcpc-discover-bios.bin"], n)
	s, _ := testServer(testPlan(t))
	s.Events = nil
	s.NoProbe = true
	s.SummaryEvery = every
	s.ListenPacket = func(_ context.Context, _ int) (net.PacketConn, error) { return conn, nil }
	logs := make(chan map[string]any, 100)
	s.Log = slog.New(recordHandler{logs})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s, logs, cancel, done
}

// TestSummary: with leases logged at Debug, serve's Info log still says
// what DHCP did: a summary per interval that had anything, with only
// the counters that moved, and a last one when Serve stops.
func TestSummary(t *testing.T) {
	const n = 5
	s, logs, cancel, done := serveFlood(t, n, 10*time.Millisecond)
	summary := func() map[string]any {
		t.Helper()
		for {
			select {
			case m := <-logs:
				if m["msg"] == "dhcp summary" {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no dhcp summary logged")
			}
		}
	}
	// The flood may be read across two intervals: add up the offers.
	var offers uint64
	for offers < n {
		m := summary()
		if m["level"] != slog.LevelInfo {
			t.Errorf("summary at %v, want Info", m["level"])
		}
		for k := range m {
			if k != "msg" && k != "level" && k != "received" && k != "offers" {
				t.Errorf("summary has %s=%v: only the counters that moved belong in it", k, m[k])
			}
		}
		o, _ := m["offers"].(uint64)
		offers += o
	}
	if offers != n {
		t.Fatalf("summaries count %d offers, want %d", offers, n)
	}
	// An interval with nothing to say says nothing; the stop says
	// what came since the last summary.
	select {
	case m := <-logs:
		if m["msg"] == "dhcp summary" {
			t.Fatalf("summary of an idle interval: %v", m)
		}
	case <-time.After(5 * s.SummaryEvery):
	}
	if sums := stopSummaries(t, cancel, done, logs); len(sums) > 0 {
		t.Fatalf("a summary at stop with nothing new: %v", sums)
	}
}

// TestSummaryAtStop: what was done since the last summary is logged when
// Serve stops, long before the next interval.
func TestSummaryAtStop(t *testing.T) {
	const n = 3
	s, logs, cancel, done := serveFlood(t, n, time.Hour)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for s.Counters.Offers.Load() < n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d offers, want %d", s.Counters.Offers.Load(), n)
		}
	}
	sums := stopSummaries(t, cancel, done, logs)
	if len(sums) != 1 || sums[0]["offers"] != uint64(n) {
		t.Errorf("summaries at stop: %v, want one with offers=%d", sums, n)
	}
}

// stopSummaries stops Serve and returns the summaries logged since the
// log was last read.
func stopSummaries(t *testing.T, cancel context.CancelFunc, done <-chan error, logs <-chan map[string]any) []map[string]any {
	t.Helper()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sums []map[string]any
	for {
		select {
		case m := <-logs:
			if m["msg"] == "dhcp summary" {
				sums = append(sums, m)
			}
		default:
			return sums
		}
	}
}
