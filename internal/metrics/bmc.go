package metrics

import (
	"context"
	"time"

	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/provision"
)

// InstrumentBMC returns b with every call counted and timed, by
// operation and outcome.
func (m *Metrics) InstrumentBMC(b rollout.BMC) rollout.BMC { return &bmcCalls{b: b, m: m} }

type bmcCalls struct {
	b rollout.BMC
	m *Metrics
}

func (c *bmcCalls) observe(op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	c.m.bmcCalls.WithLabelValues(op, outcome).Inc()
	c.m.bmcSeconds.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
}

func (c *bmcCalls) Discover(ctx context.Context, n *provision.NodePlan) (map[string]string, error) {
	start := time.Now()
	macs, err := c.b.Discover(ctx, n)
	c.observe("discover", start, err)
	return macs, err
}

func (c *bmcCalls) PXEOnce(ctx context.Context, n *provision.NodePlan) error {
	start := time.Now()
	err := c.b.PXEOnce(ctx, n)
	c.observe("pxe", start, err)
	return err
}

func (c *bmcCalls) PowerCycle(ctx context.Context, n *provision.NodePlan) error {
	start := time.Now()
	err := c.b.PowerCycle(ctx, n)
	c.observe("power-cycle", start, err)
	return err
}
