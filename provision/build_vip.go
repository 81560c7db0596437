package provision

import (
	"fmt"
	"net/netip"
	"strings"
)

// vipAddresses claims the VIPs' addresses before the nodes take theirs, so
// that a node given a VIP's address is the one reported.
func (b *builder) vipAddresses() {
	b.vipAddr = map[int]netip.Addr{}
	names := map[string]bool{}
	for i, vs := range b.site.VIPs {
		path := fmt.Sprintf("vip[%d]", i)
		obj := "vip " + vs.Name
		if vs.Name == "" {
			b.c.errorf(path, fmt.Sprintf("vip #%d", i+1), "name", "missing")
			continue
		}
		if names[vs.Name] {
			b.c.errorf(path+".name", obj, "name", "defined twice")
			continue
		}
		names[vs.Name] = true
		n, ok := b.plan.netBy[vs.Network]
		if !ok {
			b.c.errorf(path+".network", obj, "network", "network %q is not defined", vs.Network)
			continue
		}
		a, err := ParseAddr(vs.Address, b.site.Site.X)
		if err != nil {
			b.c.errorf(path+".address", obj, "address", "%v", err)
			continue
		}
		switch {
		case !n.Prefix.Contains(a):
			b.c.errorf(path+".address", obj, "address", "%s is outside network %s (%s)", a, n.Name, n.Prefix)
			continue
		case a == n.Gateway:
			b.c.errorf(path+".address", obj, "address", "%s is the gateway of network %s", a, n.Name)
			continue
		}
		b.own(a, "VIP "+vs.Name, path+".address", obj, "address")
		b.vipAddr[i] = a
	}
}

// vips resolves the VIPs whose addresses are valid: their backends and
// holders, once the nodes are known.
func (b *builder) vips() {
	for i, vs := range b.site.VIPs {
		a, ok := b.vipAddr[i]
		if !ok {
			continue
		}
		path := fmt.Sprintf("vip[%d]", i)
		obj := "vip " + vs.Name
		n := b.plan.netBy[vs.Network]
		vip := &VIP{Name: vs.Name, Address: a, Network: n.Name, Services: vs.Services}
		backNet := vs.BackendNetwork
		if backNet == "" {
			backNet = n.Name
		} else if _, ok := b.plan.netBy[backNet]; !ok {
			b.c.errorf(path+".backend_network", obj, "backend_network", "network %q is not defined", backNet)
			continue
		}
		vip.BackendNetwork = backNet
		vip.Backends = b.vipMembers(path+".backends", obj, "backends", vs.Backends, backNet)
		vip.Holders = b.vipMembers(path+".holders", obj, "holders", vs.Holders, n.Name)
		if len(vip.Holders) == 0 {
			b.c.errorf(path+".holders", obj, "holders", "no node holds this VIP")
		}
		if backNet != n.Name {
			// Holders forward from the VIP's network to the backends'.
			for _, h := range vip.Holders {
				if hn, ok := b.plan.byName[h]; ok {
					if _, on := hn.AddressOn(backNet); !on {
						b.c.errorf(path+".holders", obj, "holders", "%s holds the VIP but is not on the backend network %s", h, backNet)
					}
				}
			}
		}
		for _, h := range vip.Holders {
			if hn, ok := b.plan.byName[h]; ok {
				hn.VIPs = append(hn.VIPs, NodeVIP{Name: vip.Name, Address: a, As: "holder"})
			}
		}
		for _, be := range vip.Backends {
			if bn, ok := b.plan.byName[be]; ok {
				bn.VIPs = append(bn.VIPs, NodeVIP{Name: vip.Name, Address: a, As: "backend"})
			}
		}
		b.vipServices(path, obj, vs.Services, vip.Backends)
		b.plan.VIPs = append(b.plan.VIPs, vip)
	}
}

// vipServices checks that each service of a VIP is one HAProxy can front
// and that its backends run it.
func (b *builder) vipServices(path, obj string, services, backends []string) {
	fronts := Frontends()
	if len(services) == 0 {
		b.c.errorf(path+".services", obj, "services", "a VIP needs at least one service")
	}
	for _, s := range services {
		f, ok := fronts[s]
		if !ok {
			known := make([]string, 0, len(fronts))
			for k := range fronts {
				known = append(known, k)
			}
			b.c.errorf(path+".services", obj, "services", "unknown VIP service %q%s", s, closest(s, known))
			continue
		}
		for _, be := range backends {
			if n := b.plan.byName[be]; n != nil && !n.HasService(f.Backend) {
				b.c.errorf(path+".backends", obj, "backends", "%s does not run %s, which service %s needs", be, f.Backend, s)
			}
		}
	}
}

// vipMembers expands node names and "role:NAME" into node names, each of
// which must have an address on network netName.
func (b *builder) vipMembers(path, obj, field string, refs []string, netName string) []string {
	var out []string
	for _, ref := range refs {
		if role, ok := strings.CutPrefix(ref, "role:"); ok {
			if _, defined := b.site.Roles[role]; !defined {
				b.c.errorf(path, obj, field, "role %q is not defined", role)
				continue
			}
			found := false
			for _, n := range b.plan.Nodes {
				if n.HasRole(role) {
					out = appendUnique(out, n.Name)
					found = true
				}
			}
			if !found {
				b.c.errorf(path, obj, field, "no node has role %s", role)
			}
			continue
		}
		if _, ok := b.plan.byName[ref]; !ok {
			b.c.errorf(path, obj, field, "node %q is not defined", ref)
			continue
		}
		out = appendUnique(out, ref)
	}
	for _, name := range out {
		if n := b.plan.byName[name]; n != nil {
			if _, on := n.AddressOn(netName); !on {
				b.c.errorf(path, obj, field, "%s is not on network %s", name, netName)
			}
		}
	}
	return out
}
