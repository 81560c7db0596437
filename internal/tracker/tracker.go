// Package tracker keeps every node's state: it records events durably in
// the state store, folds them through the node state machine
// (provision.Apply) and wakes whoever waits for a node to reach a state.
// Servers (DHCP, TFTP, HTTP, BMC) send their events to Record; the
// rollout engine waits with Wait; progress displays and the API read
// Subscribe.
package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// Log is the durable event log (internal/store). AppendThen calls its
// function with each stored event in the order of the log, once durable;
// appends made at the same time share a commit.
type Log interface {
	AppendThen(provision.Event, func(provision.Event)) (provision.Event, error)
	AppendBatchThen([]provision.Event, func(provision.Event)) ([]provision.Event, error)
	Events(store.Filter) ([]provision.Event, error)
}

// Tracker folds node events into states. It is safe for concurrent use.
type Tracker struct {
	log  Log
	slog *slog.Logger

	mu      sync.Mutex
	plan    *provision.Plan
	status  map[string]provision.Status
	changed chan struct{} // closed and replaced on every change
	subs    map[*subscriber]struct{}
}

type subscriber struct {
	ch      chan Update
	dropped int
}

// Update is an event as recorded, with the node's status right after it.
type Update struct {
	Event  provision.Event
	Status provision.Status
}

// New replays the log into node states.
func New(log Log, plan *provision.Plan, logger *slog.Logger) (*Tracker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	events, err := log.Events(store.Filter{})
	if err != nil {
		return nil, fmt.Errorf("replay events: %w", err)
	}
	t := &Tracker{log: log, slog: logger, plan: plan, changed: make(chan struct{}), subs: map[*subscriber]struct{}{}}
	t.status = provision.Fold(plan, events, nil)
	return t, nil
}

// SetPlan swaps the plan (after a reload or a MAC discovery). Nodes new
// to the plan start as new.
func (t *Tracker) SetPlan(plan *provision.Plan) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.plan = plan
	for _, n := range plan.Nodes {
		if _, ok := t.status[n.Name]; !ok {
			t.status[n.Name] = provision.Status{Node: n.Name, State: provision.StateNew}
		}
	}
}

// Plan returns the current plan.
func (t *Tracker) Plan() *provision.Plan {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.plan
}

// Record stores an event, then applies it. An event illegal in the
// node's state is stored too (it is part of the node's history) but
// leaves the state as it is, and is logged. Record has the shape of a
// provision.EventSink; RecordErr returns the storage error.
func (t *Tracker) Record(e provision.Event) {
	if _, err := t.RecordErr(e); err != nil {
		t.slog.Error("event not recorded", "node", e.Node, "source", e.Source, "kind", e.Kind, "err", err)
	}
}

// RecordErr stores an event and applies it, returning the stored event.
// Events recorded at the same time are stored in one commit (the store's
// group commit); the lock is not held while the store writes.
func (t *Tracker) RecordErr(e provision.Event) (provision.Event, error) {
	// The log applies each event once it is durable, in the order of
	// the log, so that the in-memory state is always the fold of the
	// stored log, in order.
	stored, err := t.log.AppendThen(e, t.apply)
	if err != nil {
		return e, err
	}
	return stored, nil
}

// RecordBatch stores events in one commit, in their order, then applies
// them, as Record does one. It has the shape of a batch sink: the DHCP
// server hands it the leases that arrived while the last batch was
// being stored.
func (t *Tracker) RecordBatch(events []provision.Event) {
	if _, err := t.log.AppendBatchThen(events, t.apply); err != nil {
		t.slog.Error("events not recorded", "events", len(events), "err", err)
	}
}

// apply folds a stored event into its node's status, and tells the
// waiters and subscribers.
func (t *Tracker) apply(stored provision.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var st provision.Status
	if stored.Node != "" {
		var ok bool
		st, ok = t.status[stored.Node]
		if !ok {
			st = provision.Status{Node: stored.Node, State: provision.StateNew}
		}
		var err error
		st, err = provision.Apply(st, stored)
		var ill *provision.IllegalTransition
		if errors.As(err, &ill) {
			t.slog.Warn("event refused by the node state machine", "node", stored.Node, "state", ill.State,
				"source", stored.Source, "kind", stored.Kind, "seq", stored.Seq)
		}
		t.status[stored.Node] = st
	}
	close(t.changed)
	t.changed = make(chan struct{})
	for s := range t.subs {
		select {
		case s.ch <- Update{Event: stored, Status: st}:
		default:
			s.dropped++
		}
	}
}

// Status returns a node's status.
func (t *Tracker) Status(node string) provision.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.status[node]
	if !ok {
		return provision.Status{Node: node, State: provision.StateNew}
	}
	return st
}

// All returns every node's status.
func (t *Tracker) All() map[string]provision.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]provision.Status, len(t.status))
	for k, v := range t.status {
		out[k] = v
	}
	return out
}

// Wait blocks until cond holds for the node's status, or ctx ends.
func (t *Tracker) Wait(ctx context.Context, node string, cond func(provision.Status) bool) (provision.Status, error) {
	for {
		t.mu.Lock()
		st, ok := t.status[node]
		if !ok {
			st = provision.Status{Node: node, State: provision.StateNew}
		}
		ch := t.changed
		t.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, context.Cause(ctx)
		}
	}
}

// Subscribe returns a channel of every event recorded from now on, with
// the status it left its node in, until
// ctx ends (then the channel is closed). A subscriber that does not keep
// up loses events rather than slowing the servers down.
func (t *Tracker) Subscribe(ctx context.Context, buffer int) <-chan Update {
	s := &subscriber{ch: make(chan Update, buffer)}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	// This goroutine ends when ctx does.
	go func() {
		<-ctx.Done()
		t.mu.Lock()
		delete(t.subs, s)
		t.mu.Unlock()
		close(s.ch)
	}()
	return s.ch
}
