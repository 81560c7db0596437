package idracsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/provision/provision/provision"
)

// Fleet serves many simulated iDRACs, one per listen address, as a rack
// of servers looks to the appliance. The virtual lab runs one per site.
type Fleet struct {
	Servers []*Server
}

// NewFleet makes one simulator and server per config, each listening on
// host (default 127.0.0.1) at a port of its own (0: any free port).
func NewFleet(host string, basePort int, cfgs []Config) *Fleet {
	if host == "" {
		host = "127.0.0.1"
	}
	f := &Fleet{}
	for i, c := range cfgs {
		port := 0
		if basePort > 0 {
			port = basePort + i
		}
		f.Servers = append(f.Servers, &Server{Addr: net.JoinHostPort(host, fmt.Sprint(port)), Sim: New(c), Log: c.Log})
	}
	return f
}

// Listen binds every server, so the endpoints are known before Serve.
func (f *Fleet) Listen() error {
	var errs []error
	for _, s := range f.Servers {
		errs = append(errs, s.Listen())
	}
	return errors.Join(errs...)
}

// Serve runs every server until ctx ends; each server's goroutine ends
// with its Serve. It returns the servers' errors joined.
func (f *Fleet) Serve(ctx context.Context) error {
	if err := f.Listen(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(f.Servers))
	for i, s := range f.Servers {
		wg.Go(func() { errs[i] = s.Serve(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Sim returns the simulator of a node.
func (f *Fleet) Sim(node string) (*Sim, bool) {
	for _, s := range f.Servers {
		if s.Sim.Node() == node {
			return s.Sim, true
		}
	}
	return nil, false
}

// Endpoints returns every node's https endpoint, after Listen.
func (f *Fleet) Endpoints() map[string]string {
	out := map[string]string{}
	for _, s := range f.Servers {
		out[s.Sim.Node()] = s.Endpoint()
	}
	return out
}

// ConfigFor makes the simulator config of a planned node: its model, its
// NICs by Redfish id, its boot mode, and the credentials it accepts.
// MACs are derived (see MAC), not taken from the site file, so discovery
// has something to find.
func ConfigFor(n *provision.NodePlan, user, password string) Config {
	c := Config{Node: n.Name, User: user, Password: password, Model: n.Hardware.Model}
	if c.Model != "" && !strings.HasPrefix(c.Model, "PowerEdge") {
		c.Model = "PowerEdge " + c.Model
	}
	for _, nic := range n.Hardware.NICs {
		if nic.RedfishID != "" {
			c.NICs = append(c.NICs, nic.RedfishID)
		}
	}
	if strings.Contains(strings.ToLower(n.BootMode), "uefi") {
		c.BootMode = "UEFI"
	}
	return c
}
