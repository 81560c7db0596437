package appliance

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/provision/provision/internal/bmc"
	"github.com/provision/provision/provision"
)

// BMCConfig says how the appliance reaches and trusts the iDRACs.
type BMCConfig struct {
	// Endpoints override nodes' iDRAC endpoints (the virtual lab's
	// simulators listen on loopback ports).
	Endpoints map[string]string
	// CAFile verifies iDRAC certificates that have no pin.
	CAFile string
	// Insecure skips verification of iDRACs that have no pin. Said on
	// every run.
	Insecure bool
	// BasicAuth uses HTTP Basic authentication instead of sessions.
	BasicAuth bool
	Timeouts  bmc.Timeouts
}

// ErrNotPinned is returned for an iDRAC whose certificate is neither
// pinned nor verifiable with a CA.
var ErrNotPinned = errors.New("iDRAC certificate not pinned: run 'provision bmc trust NODE' (or give --ca)")

// BMC acts on nodes through their iDRACs. It implements the rollout
// engine's BMC.
type BMC struct {
	a       *Appliance
	mu      sync.Mutex
	clients map[string]*bmc.Client
}

// BMC returns the appliance's iDRAC driver.
func (a *Appliance) BMC() *BMC { return a.bmc }

// client returns the node's iDRAC client, built once.
func (b *BMC) client(n *provision.NodePlan) (*bmc.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.clients[n.Name]; ok {
		return c, nil
	}
	cfg := b.a.cfg.BMC
	endpoint := n.IDRAC.Endpoint
	if e, ok := cfg.Endpoints[n.Name]; ok {
		endpoint = e
	}
	if endpoint == "" {
		return nil, fmt.Errorf("node %s: no iDRAC endpoint", n.Name)
	}
	pin, err := b.a.Store.PinOf(n.Name)
	if err != nil {
		return nil, err
	}
	if pin == "" && cfg.CAFile == "" && !cfg.Insecure {
		return nil, fmt.Errorf("node %s: %w", n.Name, ErrNotPinned)
	}
	cred := b.a.Site().Secrets.IDRACFor(n.Name)
	if cred.User == "" || cred.Password.IsZero() {
		return nil, fmt.Errorf("node %s: no iDRAC credentials in the secrets file", n.Name)
	}
	c, err := bmc.New(bmc.Config{Node: n.Name, Endpoint: endpoint, User: cred.User, Password: cred.Password,
		Pin: pin, CAFile: cfg.CAFile, Insecure: pin == "" && cfg.CAFile == "" && cfg.Insecure,
		Sessions: !cfg.BasicAuth, Timeouts: cfg.Timeouts, Events: b.a.Tracker.Record, Log: b.a.log.With("bmc", n.Name)})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	b.clients[n.Name] = c
	return c, nil
}

// Discover reads the node's NIC MACs by their Redfish ids.
func (b *BMC) Discover(ctx context.Context, n *provision.NodePlan) (map[string]string, error) {
	c, err := b.client(n)
	if err != nil {
		return nil, err
	}
	d, err := c.Discover(ctx, n.Hardware.NICs)
	if err != nil {
		return nil, err
	}
	return d.MACs, nil
}

// PXEOnce sets a one-time PXE boot in the node's firmware mode.
func (b *BMC) PXEOnce(ctx context.Context, n *provision.NodePlan) error {
	c, err := b.client(n)
	if err != nil {
		return err
	}
	mode := "Legacy"
	if n.BootMode == "uefi" {
		mode = "UEFI"
	}
	return c.PXE(ctx, mode)
}

// PowerCycle powers the node on, or restarts it.
func (b *BMC) PowerCycle(ctx context.Context, n *provision.NodePlan) error {
	c, err := b.client(n)
	if err != nil {
		return err
	}
	return c.Power(ctx, bmc.Cycle)
}
