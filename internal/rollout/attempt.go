package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/provision/provision/provision"
)

// reached: the node got to want (or past it), or failed.
func reached(want provision.State) func(provision.Status) bool {
	return func(s provision.Status) bool {
		return s.State == provision.StateFailed || s.State.Rank() >= want.Rank()
	}
}

// waitFor waits at most d for the node to reach want. It returns the
// reason the attempt failed, or "" when the node got there.
func (e *Engine) waitFor(ctx context.Context, node string, want provision.State, d time.Duration, what string) (string, error) {
	wctx, cancel := context.WithTimeoutCause(ctx, d, errDeadline)
	defer cancel()
	st, err := e.Tracker.Wait(wctx, node, reached(want))
	switch {
	case ctx.Err() != nil:
		return "stopped", ctx.Err()
	case errors.Is(err, errDeadline):
		return fmt.Sprintf("%s within %s (state %s)", what, d, st.State), errAttempt
	case err != nil:
		return err.Error(), err
	case st.State == provision.StateFailed:
		return st.Reason, errAttempt
	}
	return "", nil
}

var errDeadline = errors.New("stage deadline passed")

// errHandoff marks a node that installed but whose profile failed: it is
// failed without being installed again (its disks hold a good system;
// `provision profile NODE` runs the profile again).
var errHandoff = errors.New("handoff failed")

// attempt runs one install attempt of a node, or resumes one a previous
// appliance process started. It returns why it failed.
func (e *Engine) attempt(ctx context.Context, n *provision.NodePlan, opt Options, lim *limiter) (string, error) {
	st := e.Tracker.Status(n.Name)
	// A node caught with its kickstart fetched (or further) is resumed: its
	// installer may have finished meanwhile, which the probe finds. One
	// caught before that has nothing on its disks yet: it starts over.
	resume := !opt.Reinstall && st.State.Busy() && st.State.Rank() >= provision.StateInstalling.Rank()
	switch {
	case st.State.Busy() && opt.Reinstall:
		e.fail(n.Name, "interrupted: a new operation took the node over")
	case st.State.Busy() && !resume:
		e.fail(n.Name, "interrupted before its kickstart was fetched (the appliance stopped): starting over")
	}
	if resume {
		e.Log.Info("resuming install", "node", n.Name, "state", st.State)
	} else {
		e.record(n.Name, provision.KindBegin, "")
		var reason string
		var err error
		if n, reason, err = e.prepare(ctx, n); err != nil {
			return reason, err
		}
		st = e.Tracker.Status(n.Name)
	}

	if st.State.Rank() < provision.StateInstalled.Rank() {
		release, err := lim.acquire(ctx, n)
		if err != nil {
			return "stopped", err
		}
		reason, err := e.install(ctx, n, st)
		release()
		if err != nil {
			return reason, err
		}
	}
	return e.handoff(ctx, n)
}

// prepare makes sure the node's PXE MAC is known (reading it from the
// iDRAC when the site file has none) and turns its netboot on.
func (e *Engine) prepare(ctx context.Context, n *provision.NodePlan) (*provision.NodePlan, string, error) {
	if n.PXE.MAC == "" {
		dctx, cancel := context.WithTimeout(ctx, e.Timeout.Discovery)
		macs, err := e.BMC.Discover(dctx, n)
		cancel()
		if err != nil {
			return n, "discover MACs over the BMC: " + err.Error(), errAttempt
		}
		if e.Discovered != nil {
			if err := e.Discovered(ctx, n.Name, macs); err != nil {
				return n, "record discovered MACs: " + err.Error(), errAttempt
			}
		}
		if m, ok := e.Tracker.Plan().Node(n.Name); ok {
			n = m
		}
		if n.PXE.MAC == "" {
			return n, fmt.Sprintf("the iDRAC reported no MAC for the PXE NIC %s", n.PXE.NIC), errAttempt
		}
	}
	if err := e.Netboot(n.Name, true); err != nil {
		return n, "netboot on: " + err.Error(), errAttempt
	}
	return n, "", nil
}

// install powers the node into PXE (unless a resumed install is past
// that) and waits for its lease, then for the installed callback.
func (e *Engine) install(ctx context.Context, n *provision.NodePlan, st provision.Status) (string, error) {
	if st.State.Rank() < provision.StatePoweringOn.Rank() {
		if err := e.staggerWait(ctx); err != nil {
			return "stopped", err
		}
		bctx, cancel := context.WithTimeout(ctx, e.Timeout.BMC)
		defer cancel()
		if err := e.BMC.PXEOnce(bctx, n); err != nil {
			return "set one-time PXE: " + err.Error(), errAttempt
		}
		if err := e.BMC.PowerCycle(bctx, n); err != nil {
			return "power cycle: " + err.Error(), errAttempt
		}
	}
	if st.State.Rank() < provision.StateDHCP.Rank() {
		what := fmt.Sprintf("no DHCP request from %s (%s)", n.PXE.NIC, n.PXE.MAC)
		if reason, err := e.waitFor(ctx, n.Name, provision.StateDHCP, e.Timeout.DHCP, what); err != nil {
			return reason, err
		}
	}
	if e.InstalledProbe != nil {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		// The prober ends with the wait (stop) or when it finds the system.
		go e.probeInstalled(pctx, n)
	}
	// The install deadline runs from the kickstart fetch: a resumed node
	// gets only what its install has left of it.
	wait := e.Timeout.Install
	if st.State == provision.StateInstalling && !st.Since.IsZero() {
		wait = max(e.Timeout.Install-time.Since(st.Since), time.Second)
	}
	return e.waitFor(ctx, n.Name, provision.StateInstalled, wait, "no installed callback")
}

// probeInstalled probes the node's installed system until it answers or
// ctx ends; when it answers, the install is recorded as done, with its
// netboot turned off first, as the installed callback would have.
func (e *Engine) probeInstalled(ctx context.Context, n *provision.NodePlan) {
	every := e.ProbeEvery
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if e.Tracker.Status(n.Name).State != provision.StateInstalling {
			continue
		}
		if err := e.InstalledProbe(ctx, n); err != nil {
			continue
		}
		if err := e.Netboot(n.Name, false); err != nil {
			e.Log.Error("netboot off", "node", n.Name, "err", err)
			continue
		}
		e.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceSSH, Kind: provision.KindInstalled,
			Msg: "the installed system answers SSH with its own host key: the installer's callback was lost"})
		return
	}
}

// handoff waits for the installed system and applies its profile.
func (e *Engine) handoff(ctx context.Context, n *provision.NodePlan) (string, error) {
	if e.Tracker.Status(n.Name).State == provision.StateInstalled {
		e.record(n.Name, provision.KindRebooting, "installed; booting the new system")
	}
	hctx, cancel := context.WithTimeoutCause(ctx, e.Timeout.Handoff, errDeadline)
	defer cancel()
	if e.Handoff == nil {
		e.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceRollout, Kind: provision.KindSSHUp, Msg: "no handoff configured"})
		e.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceRollout, Kind: provision.KindApplied, Msg: "no role profile configured"})
	} else if err := e.Handoff(hctx, n); err != nil {
		if ctx.Err() != nil {
			return "stopped", ctx.Err()
		}
		return err.Error(), errHandoff
	}
	if st := e.Tracker.Status(n.Name); st.State != provision.StateReady {
		return fmt.Sprintf("handoff ended with the node %s", st.State), errAttempt
	}
	return "", nil
}

// staggerWait spaces power-ons by Limits.Stagger.
func (e *Engine) staggerWait(ctx context.Context) error {
	if e.Limits.Stagger <= 0 {
		return nil
	}
	e.staggerMu.Lock()
	next := e.nextPower
	now := time.Now()
	if next.Before(now) {
		next = now
	}
	e.nextPower = next.Add(e.Limits.Stagger)
	e.staggerMu.Unlock()
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
