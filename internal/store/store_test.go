package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/provision"
)

func TestEventsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []provision.Event{
		{Node: "compute01", Source: "dhcp", Kind: "lease", MAC: "52:54:00:00:00:01"},
		{Source: "dhcp", Kind: "discovered", MAC: "52:54:00:00:00:99"},
		{Node: "compute01", Source: "callback", Kind: "installed"},
	} {
		if _, err := s.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMACs("compute01", map[string]string{"em1": "52:54:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin("compute01", "ab12"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlag("compute01", "netboot", false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Events(Filter{Node: "compute01"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
		if e.Time.IsZero() || e.Seq == 0 {
			t.Errorf("event %+v: no time or sequence", e)
		}
	}
	if diff := cmp.Diff([]string{"lease", "installed"}, kinds); diff != "" {
		t.Errorf("events of compute01 (-want +got):\n%s", diff)
	}
	after, _ := s.Events(Filter{After: evs[0].Seq})
	if len(after) != 2 {
		t.Errorf("events after %d: got %d, want 2", evs[0].Seq, len(after))
	}
	macs, _ := s.MACs()
	if diff := cmp.Diff(map[string]map[string]string{"compute01": {"em1": "52:54:00:00:00:01"}}, macs); diff != "" {
		t.Errorf("MACs (-want +got):\n%s", diff)
	}
	if pin, _ := s.PinOf("compute01"); pin != "ab12" {
		t.Errorf("pin = %q", pin)
	}
	if pin, _ := s.PinOf("compute02"); pin != "" {
		t.Errorf("pin of unknown node = %q", pin)
	}
	on, set, _ := s.Flag("compute01", "netboot")
	if on || !set {
		t.Errorf("netboot flag = %v, set %v; want false, true", on, set)
	}
	nodes, _ := s.Nodes()
	if diff := cmp.Diff([]string{"compute01"}, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
}
