// Package appliance wires the appliance together: the site and its plan
// (reloaded on demand, MACs discovered over the BMCs merged in), the state
// store, the node tracker, and the DHCP, TFTP and HTTP servers that PXE
// boots and installs nodes. `provision serve` runs it; `provision up`
// runs it in-process when no server is running; the virtual lab runs it
// in the appliance's namespace.
package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provision/provision/images"
	"github.com/provision/provision/internal/bmc"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
)

// Config is how the appliance runs.
type Config struct {
	SiteFile string
	StateDir string
	// Addr is the address the servers listen on; default the plan's
	// appliance address on the management network.
	Addr netip.Addr
	// Interface is the interface DHCP serves on; empty: every interface.
	Interface string
	HTTPPort  int // default 80
	TFTPPort  int // default 69
	// NoDHCP leaves DHCP to another server (with relay or ProxyDHCP).
	NoDHCP    bool
	ProxyDHCP bool
	// NoRA: do not answer IPv6 router solicitations on Interface (see
	// package ndp); answered by default, so iPXE does not wait for a
	// router.
	NoRA bool
	// Pool, "FIRST-LAST", gives unknown MACs an address.
	Pool string
	// Loaders names boot loader files explicitly (TFTP name to path).
	Loaders map[string]string
	// BMC says how to reach the iDRACs.
	BMC BMCConfig
	// LabDir, set when the appliance runs in the virtual lab, keeps each
	// simulated node's uploaded profile there; profiles are checked, not
	// run.
	LabDir string
	// NoHandoff leaves installed nodes without their role profile (they
	// are ready once their system answers).
	NoHandoff bool
	Log       *slog.Logger
}

// Appliance is a running appliance's state. It is safe for concurrent
// use.
type Appliance struct {
	cfg     Config
	log     *slog.Logger
	Store   *store.Store
	Keys    *hostkeys.Store
	Tracker *tracker.Tracker
	Images  images.Catalog

	bmc   *BMC     // one iDRAC client per node, shared by every rollout
	holds sync.Map // nodes held by an operation, shared by every rollout

	rendererOnce sync.Once // profiles' templates, parsed once
	renderer     *profiles.Renderer
	rendererErr  error

	mu   sync.Mutex // serialises reloads
	site atomic.Pointer[provision.Site]
	plan atomic.Pointer[provision.Plan]
}

// ErrSite is returned when the site file has errors.
var ErrSite = errors.New("site has errors")

// Open loads the site, opens the state (waiting at most lockWait for
// another process to release it) and folds the event log into node
// states.
func Open(cfg Config, lockWait time.Duration) (*Appliance, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = 80
	}
	if cfg.TFTPPort == 0 {
		cfg.TFTPPort = 69
	}
	a := &Appliance{cfg: cfg, log: cfg.Log, Images: images.Catalog{Dir: filepath.Join(cfg.StateDir, "images")}}
	a.bmc = &BMC{a: a, clients: map[string]*bmc.Client{}}
	st, err := store.Open(cfg.StateDir, lockWait)
	if err != nil {
		return nil, err
	}
	a.Store = st
	if a.Keys, err = hostkeys.Open(cfg.StateDir); err != nil {
		st.Close()
		return nil, fmt.Errorf("host keys: %w", err)
	}
	if err := a.Reload(); err != nil {
		st.Close()
		return nil, err
	}
	if a.Tracker, err = tracker.New(st, a.Plan(), a.log); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the state.
func (a *Appliance) Close() error { return a.Store.Close() }

// Plan returns the current plan.
func (a *Appliance) Plan() *provision.Plan { return a.plan.Load() }

// Site returns the current site (with its secrets).
func (a *Appliance) Site() *provision.Site { return a.site.Load() }

// Config returns the configuration the appliance runs with.
func (a *Appliance) Config() Config { return a.cfg }

// Reload reads the site file again and rebuilds the plan with the MACs
// discovered so far. A site with errors leaves the running plan in place
// and returns the errors.
func (a *Appliance) Reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	site, probs := provision.Load(a.cfg.SiteFile)
	if site == nil || probs.Err() != nil {
		return fmt.Errorf("%s: %w:\n%w", a.cfg.SiteFile, ErrSite, probs.Err())
	}
	return a.rebuild(site)
}

// rebuild plans site with the stored MACs and swaps the plan in.
func (a *Appliance) rebuild(site *provision.Site) error {
	macs, err := a.Store.MACs()
	if err != nil {
		return fmt.Errorf("state: discovered MACs: %w", err)
	}
	plan, probs := provision.Build(site, provision.Options{MACs: macs})
	if err := probs.Err(); err != nil {
		return fmt.Errorf("%s: %w:\n%w", a.cfg.SiteFile, ErrSite, err)
	}
	for _, p := range probs {
		a.log.Warn("site", "problem", p.Error())
	}
	a.site.Store(site)
	a.plan.Store(plan)
	if a.Tracker != nil {
		a.Tracker.SetPlan(plan)
	}
	return nil
}

// Discovered records MACs read from a node's iDRAC and replans, so that
// DHCP answers the node. A MAC that contradicts the site file is refused
// (the plan reports the conflict) and the old MACs are kept.
func (a *Appliance) Discovered(_ context.Context, node string, macs map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old, err := a.Store.MACs()
	if err != nil {
		return err
	}
	if err := a.Store.SetMACs(node, macs); err != nil {
		return fmt.Errorf("node %s: record MACs: %w", node, err)
	}
	if err := a.rebuild(a.Site()); err != nil {
		if prev, ok := old[node]; ok {
			_ = a.Store.SetMACs(node, prev)
		} else {
			_ = a.Store.SetMACs(node, map[string]string{})
		}
		return fmt.Errorf("node %s: discovered MACs: %w", node, err)
	}
	return nil
}

// Netboot turns a node's netboot on or off, durably, for a rollout.
func (a *Appliance) Netboot(node string, on bool) error {
	return a.netboot(node, on, provision.Event{Source: provision.SourceRollout})
}

// NetbootByOperator turns a node's netboot on or off, durably, for an
// operator (the API): the event says so, and what the flag was.
func (a *Appliance) NetbootByOperator(node string, on bool) error {
	n, ok := a.Plan().Node(node)
	if !ok {
		return fmt.Errorf("node %s: not in the site", node)
	}
	was, err := a.Store.Netboot(n)
	if err != nil {
		return fmt.Errorf("node %s: netboot: %w", node, err)
	}
	return a.netboot(node, on, provision.Event{Source: provision.SourceOperator,
		Msg: "netboot " + onOff(on) + " through the API", Attrs: map[string]string{"was": onOff(was)}})
}

func (a *Appliance) netboot(node string, on bool, e provision.Event) error {
	if err := a.Store.SetFlag(node, store.FlagNetboot, on); err != nil {
		return fmt.Errorf("node %s: netboot %v: %w", node, on, err)
	}
	e.Node, e.Kind = node, "netboot-"+onOff(on)
	a.Tracker.Record(e)
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// addr is the address the servers listen on.
func (a *Appliance) addr() netip.Addr {
	if a.cfg.Addr.IsValid() {
		return a.cfg.Addr
	}
	return a.Plan().Site.ApplianceAddr
}

// stateFile is a path in the state directory.
func (a *Appliance) stateFile(name string) string { return filepath.Join(a.cfg.StateDir, name) }
