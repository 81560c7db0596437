// Package store keeps the appliance's durable state under the state
// directory: the append-only event log of every node, and small records
// (MACs discovered over the BMC, pinned iDRAC certificates, netboot flags).
// It is one bbolt file; every write is a committed transaction, fsynced
// before the call returns. Events appended at the same time share one
// transaction (group commit, see Append), so that their rate is not
// bounded by one fsync each.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/provision/provision/provision"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketEvents = []byte("events")
	bucketMACs   = []byte("macs")
	bucketPins   = []byte("cert-pins")
	bucketFlags  = []byte("flags")
)

// FileName is the database file in the state directory.
const FileName = "provision.db"

// initialMmap is the address space bbolt maps the file in at first: 1
// GiB (virtual; the file grows as it needs). bbolt maps the file again
// each time it outgrows the mapping, which stops its transactions, and,
// as the kernel takes the process's memory map lock, stalls every thread
// that faults a page meanwhile, the DHCP server's workers too: under
// other disk load those stalls lasted 100 ms.
const initialMmap = 1 << 30

// ErrLocked is returned when another process holds the state.
var ErrLocked = errors.New("state is in use by another provision process")

// Store is the state store. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	now   func() time.Time
	group appendGroup
}

// Open opens (creating if needed) the store in dir. It waits at most
// timeout for another process to release the file.
func Open(dir string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, InitialMmapSize: initialMmap})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketMACs, bucketPins, bucketFlags} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Append records an event, setting its sequence number and, when zero,
// its time. It returns the stored event once it is durable.
func (s *Store) Append(e provision.Event) (provision.Event, error) {
	return s.AppendThen(e, nil)
}

// maxGroup is the most events one transaction commits (a batch larger
// than that still commits whole, alone).
const maxGroup = 1000

// appendGroup queues the appends that arrive while a commit is being
// written. The caller that finds no commit running leads: it commits
// the queue, and hands the lead to the first append queued meanwhile.
// No goroutine of its own, and no added wait: a lone append commits at
// once.
type appendGroup struct {
	mu      sync.Mutex
	queue   []*pendingAppend
	leading bool
}

// pendingAppend is one call's events: one for AppendThen, a batch for
// AppendBatchThen, committed in the same transaction.
type pendingAppend struct {
	events []provision.Event
	then   func(provision.Event)
	err    error
	// wake says true to an append that must lead the next commit, and
	// false once it is committed (or failed).
	wake chan bool
}

// AppendThen is Append calling then (when not nil) with the stored event
// once it is durable, before AppendThen returns. The thens run in the
// order of the log, one after another: the events of one transaction in
// sequence, and no later transaction starts before they have returned.
// A then must not call the store.
//
// Appends that arrive while another transaction is being written wait,
// and are committed together in the next one (group commit): one fsync
// for them all, and each returns only once its own event is durable.
func (s *Store) AppendThen(e provision.Event, then func(provision.Event)) (provision.Event, error) {
	stored, err := s.append([]provision.Event{e}, then)
	if err != nil {
		return e, fmt.Errorf("append event of %q: %w", e.Node, err)
	}
	return stored[0], nil
}

// AppendBatchThen is AppendThen for events in their order, all in one
// transaction: all are stored or none. It returns them stored.
func (s *Store) AppendBatchThen(events []provision.Event, then func(provision.Event)) ([]provision.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	stored, err := s.append(slices.Clone(events), then)
	if err != nil {
		return events, fmt.Errorf("append %d events: %w", len(events), err)
	}
	return stored, nil
}

func (s *Store) append(events []provision.Event, then func(provision.Event)) ([]provision.Event, error) {
	p := &pendingAppend{events: events, then: then, wake: make(chan bool, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		lead = <-p.wake
	}
	if lead {
		s.commitGroup()
	}
	return p.events, p.err
}

// commitGroup commits the queue (which holds the leader first), wakes
// every append of it, and passes the lead on.
func (s *Store) commitGroup() {
	g := &s.group
	g.mu.Lock()
	n, events := 0, 0
	for n < len(g.queue) && (n == 0 || events+len(g.queue[n].events) <= maxGroup) {
		events += len(g.queue[n].events)
		n++
	}
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	if err := s.commitEvents(batch); err != nil && len(batch) > 1 {
		// One append the transaction could not take fails only
		// itself: commit them one by one.
		for _, p := range batch {
			s.commitEvents([]*pendingAppend{p})
		}
	}
	for _, p := range batch {
		if p.err == nil && p.then != nil {
			for _, e := range p.events {
				p.then(e)
			}
		}
	}
	// The leader is batch[0]: it returns on its own.
	for _, p := range batch[1:] {
		p.wake <- false
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- true
	} else {
		g.queue, g.leading = nil, false
	}
	g.mu.Unlock()
}

// commitEvents writes the events of batch in one transaction and sets
// each append's err to its outcome.
func (s *Store) commitEvents(batch []*pendingAppend) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, p := range batch {
			for i := range p.events {
				if err := s.putEvent(b, &p.events[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, p := range batch {
		p.err = err
	}
	return err
}

// putEvent writes e as the next event of b, setting its sequence number and,
// when zero, its time. A transaction that fails gives its sequence
// numbers back: they are in the same transaction.
func (s *Store) putEvent(b *bolt.Bucket, e *provision.Event) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), data)
}

// Filter selects events; zero fields match everything.
type Filter struct {
	Node   string
	Kind   string
	Source string
	After  uint64 // only events with Seq > After
}

func (f Filter) match(e provision.Event) bool {
	return (f.Node == "" || e.Node == f.Node) && (f.Kind == "" || e.Kind == f.Kind) &&
		(f.Source == "" || e.Source == f.Source)
}

// Events returns the events matching f, oldest first.
func (s *Store) Events(f Filter) ([]provision.Event, error) {
	var out []provision.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(seqKey(f.After + 1)); k != nil; k, v = c.Next() {
			var e provision.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if f.match(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// SetMACs records the MACs of a node's NICs, by NIC name.
func (s *Store) SetMACs(node string, macs map[string]string) error {
	return s.putJSON(bucketMACs, node, macs)
}

// MACs returns every recorded MAC, by node and NIC name.
func (s *Store) MACs() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMACs).ForEach(func(k, v []byte) error {
			var m map[string]string
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("MACs of %s: %w", k, err)
			}
			out[string(k)] = m
			return nil
		})
	})
	return out, err
}

// Pin records the SHA-256 fingerprint (hex) of a node's iDRAC certificate.
func (s *Store) Pin(node, fingerprint string) error {
	return s.put(bucketPins, node, []byte(fingerprint))
}

// PinOf returns a node's pinned fingerprint, or "" when none is pinned.
func (s *Store) PinOf(node string) (string, error) {
	v, err := s.get(bucketPins, node)
	return string(v), err
}

// FlagNetboot is the node flag that says whether the node's next PXE boot
// installs it. The installer's "installed" callback turns it off;
// provision netboot sets it by hand.
const FlagNetboot = "netboot"

// Netboot says whether the node's network boot installs it now: its
// netboot flag when the flag was ever set, else the plan's default. The
// appliance's own node never installs.
func (s *Store) Netboot(node *provision.NodePlan) (bool, error) {
	if node.Appliance {
		return false, nil
	}
	on, set, err := s.Flag(node.Name, FlagNetboot)
	if err != nil {
		return false, fmt.Errorf("netboot flag of %s: %w", node.Name, err)
	}
	if !set {
		return node.Netboot, nil
	}
	return on, nil
}

// SetFlag sets a named boolean of a node (such as "netboot").
func (s *Store) SetFlag(node, flag string, on bool) error {
	v := []byte{0}
	if on {
		v[0] = 1
	}
	return s.put(bucketFlags, node+"/"+flag, v)
}

// Flag returns a node's flag and whether it was ever set.
func (s *Store) Flag(node, flag string) (on, set bool, err error) {
	v, err := s.get(bucketFlags, node+"/"+flag)
	if err != nil || v == nil {
		return false, false, err
	}
	return len(v) == 1 && v[0] == 1, true, nil
}

// Nodes returns the names of nodes that have events, sorted.
func (s *Store) Nodes() ([]string, error) {
	seen := map[string]bool{}
	evs, err := s.Events(Filter{})
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		if e.Node != "" {
			seen[e.Node] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) putJSON(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.put(bucket, key, data)
}

func (s *Store) put(bucket []byte, key string, v []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), v) })
	if err != nil {
		return fmt.Errorf("state: %s %s: %w", bucket, key, err)
	}
	return nil
}

func (s *Store) get(bucket []byte, key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}
