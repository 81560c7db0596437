// Package rollout installs nodes unattended: in the plan's rollout order,
// within concurrency limits, with a deadline on every stage of an install
// and a retry budget per node. It acts through a BMC (one-time PXE, power)
// and the netboot flag, and learns what nodes do from the tracker, which
// the DHCP, TFTP and HTTP servers feed. Every decision is an event, so an
// engine started again after a crash resumes where the log says each node
// is, and never installs a node twice.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// BMC is what the engine needs of a node's baseboard controller.
type BMC interface {
	// Discover reads the node's NIC MACs, by NIC name.
	Discover(ctx context.Context, n *provision.NodePlan) (map[string]string, error)
	// PXEOnce sets a one-time network boot.
	PXEOnce(ctx context.Context, n *provision.NodePlan) error
	// PowerCycle powers the node on, or restarts it when it is on.
	PowerCycle(ctx context.Context, n *provision.NodePlan) error
}

// Engine runs rollouts. Its exported fields are its configuration; set
// them before Run.
type Engine struct {
	Tracker *tracker.Tracker
	BMC     BMC
	// Netboot turns a node's netboot flag on or off, durably.
	Netboot func(node string, on bool) error
	// Discovered is called with MACs read from a node's iDRAC; it records
	// them and rebuilds the plan so DHCP knows the node (and calls
	// Tracker.SetPlan).
	Discovered func(ctx context.Context, node string, macs map[string]string) error
	// Handoff waits for the installed system and applies its role
	// profile, recording ssh-up and applied events. Nil: the node is
	// ready once installed and rebooted (no profiles).
	Handoff func(ctx context.Context, n *provision.NodePlan) error
	// InstalledProbe, when set, says whether a node's installed system
	// answers (SSH with its generated host key). While the engine waits
	// for the installed callback it probes every ProbeEvery, so that a
	// lost callback (the appliance was down when the installer sent it)
	// neither leaves the node waiting nor installs it again.
	InstalledProbe func(ctx context.Context, n *provision.NodePlan) error
	ProbeEvery     time.Duration
	Limits         Limits
	Timeout        Deadlines
	// Retries is how many times an install is retried after its first
	// attempt before the node is failed.
	Retries int
	Log     *slog.Logger

	// Holds records which nodes an operation holds (node name ->
	// struct{}). Engines that share one refuse each other's nodes; nil
	// gives the engine its own.
	Holds *sync.Map

	ownHolds  sync.Map
	staggerMu sync.Mutex
	nextPower time.Time // earliest next power-on
}

// Limits bound how many nodes install at once.
type Limits struct {
	Global  int           // nodes between power-on and installed (default 10)
	PerRack int           // 0: no limit
	PerRole int           // 0: no limit
	Stagger time.Duration // pause between two power-ons
}

// Deadlines bound each stage of an install.
type Deadlines struct {
	DHCP      time.Duration // power-on to first lease (default 5m)
	Install   time.Duration // lease to installed callback (default 60m)
	Handoff   time.Duration // installed to ready (default 30m)
	BMC       time.Duration // one BMC operation (default 5m)
	Discovery time.Duration // MAC discovery (default 2m)
}

func (e *Engine) defaults() {
	if e.Limits.Global <= 0 {
		e.Limits.Global = 10
	}
	d := &e.Timeout
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&d.DHCP, 5 * time.Minute}, {&d.Install, 60 * time.Minute}, {&d.Handoff, 30 * time.Minute},
		{&d.BMC, 5 * time.Minute}, {&d.Discovery, 2 * time.Minute}} {
		if *p.v <= 0 {
			*p.v = p.def
		}
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
}

// ErrHeld is returned for a node another operation is installing.
var ErrHeld = errors.New("another operation holds the node")

// Result is how a rollout ended for one node.
type Result struct {
	Node     string
	State    provision.State
	Reason   string
	Attempts int
	Skipped  bool // already ready: nothing done
	Duration time.Duration
}

// hold takes the node for this operation. Within one appliance process
// the engine is the only one acting on nodes (a second process cannot
// open the state store), so a node held by no operation of this engine
// is free even when its state is busy: the rollout that started it died
// with the previous appliance process, and this one takes it over.
func (e *Engine) hold(node string) error {
	if _, taken := e.holdMap().LoadOrStore(node, struct{}{}); taken {
		st := e.Tracker.Status(node)
		return fmt.Errorf("node %s: %w (state %s)", node, ErrHeld, st.State)
	}
	return nil
}

func (e *Engine) release(node string) { e.holdMap().Delete(node) }

func (e *Engine) holdMap() *sync.Map {
	if e.Holds != nil {
		return e.Holds
	}
	return &e.ownHolds
}

// record writes an engine event.
func (e *Engine) record(node, kind, msg string) {
	e.Tracker.Record(provision.Event{Node: node, Source: provision.SourceRollout, Kind: kind, Msg: msg})
}
