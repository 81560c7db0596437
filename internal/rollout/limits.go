package rollout

import (
	"context"
	"sync"

	"github.com/provision/provision/provision"
)

// limiter bounds how many nodes are between power-on and installed at
// once: globally, per rack and per role (the node's first role).
type limiter struct {
	global chan struct{}
	per    Limits

	mu    sync.Mutex
	racks map[string]chan struct{}
	roles map[string]chan struct{}
}

func newLimiter(l Limits) *limiter {
	return &limiter{global: make(chan struct{}, l.Global), per: l,
		racks: map[string]chan struct{}{}, roles: map[string]chan struct{}{}}
}

func (l *limiter) sem(m map[string]chan struct{}, key string, n int) chan struct{} {
	if n <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := m[key]
	if !ok {
		c = make(chan struct{}, n)
		m[key] = c
	}
	return c
}

// acquire takes a slot of every limit the node falls under, always in the
// same order (global, rack, role) so that two nodes cannot deadlock, and
// returns the function that gives them back.
func (l *limiter) acquire(ctx context.Context, n *provision.NodePlan) (func(), error) {
	role := ""
	if len(n.Roles) > 0 {
		role = n.Roles[0]
	}
	sems := []chan struct{}{l.global, l.sem(l.racks, n.Rack, l.per.PerRack), l.sem(l.roles, role, l.per.PerRole)}
	var held []chan struct{}
	release := func() {
		for _, c := range held {
			<-c
		}
		held = nil
	}
	for _, c := range sems {
		if c == nil {
			continue
		}
		select {
		case c <- struct{}{}:
			held = append(held, c)
		case <-ctx.Done():
			release()
			return func() {}, ctx.Err()
		}
	}
	return release, nil
}
