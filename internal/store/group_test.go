package store

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/provision"
)

// TestGroupCommit: appends from many goroutines at once are each stored
// once, with distinct sequence numbers, durable across a reopen, and
// their thens see the events in the order of the log.
func TestGroupCommit(t *testing.T) {
	const writers, each = 40, 25
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var thenSeqs []uint64 // thens run one after another: no lock
	returned := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := provision.Event{Node: fmt.Sprintf("node%02d", w), Source: "dhcp", Kind: "lease", Msg: fmt.Sprint(i)}
				var seen uint64
				stored, err := s.AppendThen(e, func(e provision.Event) {
					thenSeqs = append(thenSeqs, e.Seq)
					seen = e.Seq
				})
				if err != nil {
					t.Error(err)
					return
				}
				if stored.Seq != seen {
					t.Errorf("append returned seq %d, its then saw %d", stored.Seq, seen)
				}
				returned[w] = append(returned[w], stored.Seq)
			}
		})
	}
	wg.Wait()
	s.Close()

	want := make([]uint64, writers*each)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if d := cmp.Diff(want, thenSeqs); d != "" {
		t.Errorf("thens not called once each in log order (-want +got):\n%s", d)
	}
	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for w := range writers {
		evs, err := s.Events(Filter{Node: fmt.Sprintf("node%02d", w)})
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for i, e := range evs {
			got = append(got, e.Seq)
			if e.Msg != fmt.Sprint(i) {
				t.Errorf("node%02d: event %d is %q: one writer's appends out of order", w, i, e.Msg)
			}
		}
		if d := cmp.Diff(returned[w], got); d != "" {
			t.Errorf("node%02d: stored events (-returned +after reopen):\n%s", w, d)
		}
	}
}

// TestAppendAfterClose fails instead of waiting forever.
func TestAppendAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Append(provision.Event{Node: "compute01", Kind: "lease"}); err == nil {
		t.Fatal("Append after Close: no error")
	}
	if _, err := s.Append(provision.Event{Node: "compute01", Kind: "lease"}); err == nil {
		t.Fatal("second Append after Close: no error")
	}
}

// TestAppendBatch: batches appended beside single appends are each one
// transaction (consecutive sequence numbers, in their order), larger
// than a group too; every then runs once, in the order of the log, and
// everything is there after a reopen.
func TestAppendBatch(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var thenSeqs []uint64
	then := func(e provision.Event) { thenSeqs = append(thenSeqs, e.Seq) }
	batch := func(node string, n int) []provision.Event {
		evs := make([]provision.Event, n)
		for i := range evs {
			evs[i] = provision.Event{Node: node, Source: "dhcp", Kind: "lease", Msg: fmt.Sprint(i)}
		}
		return evs
	}
	var mu sync.Mutex
	batches := map[string][]uint64{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() { // single appends
			for i := range 20 {
				if _, err := s.AppendThen(provision.Event{Node: fmt.Sprintf("single%d", w), Msg: fmt.Sprint(i)}, then); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() { // batches, the last one larger than a group
			for i := range 5 {
				n := 7
				if w == 0 && i == 4 {
					n = maxGroup + 500
				}
				node := fmt.Sprintf("batch%d-%d", w, i)
				stored, err := s.AppendBatchThen(batch(node, n), then)
				if err != nil {
					t.Error(err)
					return
				}
				seqs := make([]uint64, len(stored))
				for j, e := range stored {
					seqs[j] = e.Seq
					if e.Node != node || e.Msg != fmt.Sprint(j) {
						t.Errorf("%s: stored event %d is %s %q", node, j, e.Node, e.Msg)
					}
				}
				mu.Lock()
				batches[node] = seqs
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.Close()
	total := 8*20 + 8*5*7 + 500 + maxGroup - 7
	want := make([]uint64, total)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if d := cmp.Diff(want, thenSeqs); d != "" {
		t.Errorf("thens not called once each in log order (-want +got):\n%s", d)
	}
	for node, seqs := range batches {
		for j := 1; j < len(seqs); j++ {
			if seqs[j] != seqs[0]+uint64(j) {
				t.Fatalf("%s: sequence numbers %v...: not one transaction", node, seqs[:min(len(seqs), 10)])
			}
		}
	}
	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for node, seqs := range batches {
		evs, err := s.Events(Filter{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(seqs) || evs[0].Seq != seqs[0] {
			t.Errorf("%s after reopen: %d events from seq %d, want %d from %d", node, len(evs), evs[0].Seq, len(seqs), seqs[0])
		}
	}
}
