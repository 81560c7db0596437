package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/provision/provision/provision"
)

// Options say what a run does to nodes that are already installed.
type Options struct {
	// Reinstall installs every node again, ready or not (provision role,
	// provision rebuild). Without it, ready nodes are skipped, failed and
	// new nodes installed, and nodes caught mid-install resumed.
	Reinstall bool
}

// barrier stages must finish before any later stage starts: the load
// balancers and controllers every other service talks to. Nodes of the
// other stages do not depend on each other.
var barrier = map[string]bool{"load balancers": true, "first controller": true, "controllers": true}

// Run installs the nodes (already in rollout order, see
// provision.SelectRollout) and returns how each ended. A node of a later
// stage waits for the barrier stages before it; if one of their nodes
// fails, it is failed as blocked, while nodes that do not depend on the
// failed one go on.
func (e *Engine) Run(ctx context.Context, nodes []*provision.NodePlan, opt Options) []Result {
	e.defaults()
	lim := newLimiter(e.Limits)
	done := make([]chan struct{}, len(nodes))
	var mu sync.Mutex
	results := make([]Result, len(nodes))
	stateOf := func(name string) provision.State {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			if r.Node == name {
				return r.State
			}
		}
		return ""
	}
	plan := e.Tracker.Plan()
	var wg sync.WaitGroup
	for i, n := range nodes {
		done[i] = make(chan struct{})
		var waitFor []chan struct{}
		var waitNames []string
		for j, m := range nodes[:i] {
			if m.Stage < n.Stage && barrier[stageName(plan, m.Stage)] {
				waitFor = append(waitFor, done[j])
				waitNames = append(waitNames, m.Name)
			}
		}
		// Each node's goroutine ends when its install ends or ctx does.
		wg.Go(func() {
			defer close(done[i])
			r := e.runNode(ctx, n, opt, lim, waitFor, waitNames, stateOf)
			mu.Lock()
			results[i] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

func stageName(plan *provision.Plan, stage int) string {
	for _, s := range plan.Stages {
		if s.Stage == stage {
			return s.Name
		}
	}
	return ""
}

// runNode installs one node: wait for the nodes it depends on, then
// attempt the install until it succeeds or the retry budget is spent.
func (e *Engine) runNode(ctx context.Context, n *provision.NodePlan, opt Options, lim *limiter,
	waitFor []chan struct{}, waitNames []string, stateOf func(string) provision.State) Result {
	start := time.Now()
	res := Result{Node: n.Name}
	finish := func(st provision.Status) Result {
		res.State, res.Reason, res.Duration = st.State, st.Reason, time.Since(start)
		return res
	}
	if err := e.hold(n.Name); err != nil {
		res.State, res.Reason = e.Tracker.Status(n.Name).State, err.Error()
		return res
	}
	defer e.release(n.Name)

	st := e.Tracker.Status(n.Name)
	if st.State == provision.StateReady && !opt.Reinstall {
		res.Skipped = true
		return finish(st)
	}
	for i, ch := range waitFor {
		select {
		case <-ch:
		case <-ctx.Done():
			return finish(e.Tracker.Status(n.Name))
		}
		if s := stateOf(waitNames[i]); s != provision.StateReady {
			e.fail(n.Name, fmt.Sprintf("blocked: %s, which it depends on, ended %s", waitNames[i], s))
			return finish(e.Tracker.Status(n.Name))
		}
	}

	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		reason, err := e.attempt(ctx, n, opt, lim)
		if err == nil {
			return finish(e.Tracker.Status(n.Name))
		}
		if ctx.Err() != nil {
			// The operator stopped the rollout: the node stays where it
			// is, and the next run resumes it.
			return finish(e.Tracker.Status(n.Name))
		}
		e.Log.Warn("install attempt failed", "node", n.Name, "attempt", attempt, "reason", reason)
		last := attempt > e.Retries || errors.Is(err, errHandoff)
		if last && !errors.Is(err, errHandoff) {
			reason = fmt.Sprintf("%s (gave up after %d attempts)", reason, attempt)
			// Out of budget: leave nothing that would PXE-install it later.
			if err := e.Netboot(n.Name, false); err != nil {
				e.Log.Error("netboot off", "node", n.Name, "err", err)
			}
		}
		e.fail(n.Name, reason)
		opt.Reinstall = true // the next attempt starts over
		if last {
			res = finish(e.Tracker.Status(n.Name))
			res.Reason = reason
			return res
		}
	}
}

// fail records the node as failed; a node already failed gets the
// reason as a message only.
func (e *Engine) fail(node, reason string) {
	if e.Tracker.Status(node).State == provision.StateFailed {
		e.record(node, "attempt-failed", reason)
		return
	}
	e.record(node, provision.KindFailed, reason)
}

// errAttempt marks an attempt that failed for a reason worth retrying.
var errAttempt = errors.New("install attempt failed")
