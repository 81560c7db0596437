package api

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// TestEventsFanOut: every one of many clients gets every event, in
// order; the test logs how long the fan-out took.
func TestEventsFanOut(t *testing.T) {
	const clients, events = 50, 200
	h := newHarness(t)
	streams := make([]*sseClient, clients)
	for i := range streams {
		streams[i] = openStream(t, h.URL+"/api/v1/events", nil)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	lat := make([]time.Duration, clients)
	for i, c := range streams {
		wg.Go(func() {
			var want uint64 = 1
			for range events {
				m, err := c.read(30 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if m.Data.Event.Seq != want {
					errs <- fmt.Errorf("client %d: event %d, want %d", i, m.Data.Event.Seq, want)
					return
				}
				want++
			}
			lat[i] = time.Since(start)
		})
	}
	for i := range events {
		h.Tracker.Record(provision.Event{Node: fmt.Sprintf("compute%02d", i%10+1), Source: "dhcp", Kind: "discovered"})
	}
	recorded := time.Since(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var slowest time.Duration
	for _, d := range lat {
		slowest = max(slowest, d)
	}
	t.Logf("SSE fan-out: %d events to %d clients (%d messages): recorded in %v, all delivered in %v (%.0f messages/s)",
		events, clients, events*clients, recorded.Round(time.Millisecond), slowest.Round(time.Millisecond),
		float64(events*clients)/slowest.Seconds())
}
