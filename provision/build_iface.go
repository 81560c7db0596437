package provision

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
)

// interfaces builds the node's interfaces from the bonds and attachments
// of its roles, gives each its address, and picks the PXE NIC and the
// default route.
func (b *builder) interfaces(nc *nodeCtx, roles []*Role, set Settings) {
	c, np := b.c, nc.np
	macs := map[string]string{}
	nics := map[string]bool{}
	for _, n := range np.Hardware.NICs {
		macs[n.Name] = n.MAC
		nics[n.Name] = true
	}
	// Merge the roles' bonds: the same bond in two roles must be the same.
	bonds := map[string]BondSpec{}
	bondRole := map[string]string{}
	slaveOf := map[string]string{}
	for ri, r := range roles {
		for _, bd := range r.Bonds {
			if prev, ok := bonds[bd.Name]; ok {
				if !slices.Equal(prev.Slaves, bd.Slaves) || prev.Mode != bd.Mode || prev.Options != bd.Options {
					c.errorf("role."+np.Roles[ri]+".bond", nc.obj, "bond "+bd.Name,
						"roles %s and %s define bond %s differently", bondRole[bd.Name], np.Roles[ri], bd.Name)
				}
				continue
			}
			bonds[bd.Name] = bd
			bondRole[bd.Name] = np.Roles[ri]
			for _, s := range bd.Slaves {
				if !nics[s] {
					c.errorf("role."+np.Roles[ri]+".bond", nc.obj, "bond "+bd.Name+".slaves", "%s is not a NIC of hardware %s", s, np.Hardware.Name)
				} else if m := slaveOf[s]; m != "" {
					c.errorf("role."+np.Roles[ri]+".bond", nc.obj, "bond "+bd.Name+".slaves", "%s is already a slave of %s", s, m)
				}
				slaveOf[s] = bd.Name
			}
		}
	}
	type attach struct {
		AttachSpec
		role string
	}
	var atts []attach
	for ri, r := range roles {
		for _, a := range r.Interfaces {
			dup := slices.ContainsFunc(atts, func(x attach) bool { return x.AttachSpec == a })
			if !dup {
				atts = append(atts, attach{a, np.Roles[ri]})
			}
		}
	}
	// Devices in a stable order: bonds, then NICs, each by name.
	devs := map[string]bool{}
	for _, a := range atts {
		if _, isBond := bonds[a.Device]; !isBond && !nics[a.Device] {
			c.errorf("role."+a.role+".iface", nc.obj, "iface "+a.Device, "%q is neither a bond nor a NIC of hardware %s", a.Device, np.Hardware.Name)
			continue
		}
		devs[a.Device] = true
	}
	order := sortedKeys(devs)
	sort.SliceStable(order, func(i, j int) bool {
		_, bi := bonds[order[i]]
		_, bj := bonds[order[j]]
		return bi && !bj
	})
	mtuOf := func(netName string) int {
		if n, ok := b.plan.netBy[netName]; ok && n.MTU > 0 {
			return n.MTU
		}
		return set.MTU
	}
	for _, dev := range order {
		base := Interface{Name: dev, Kind: KindEthernet, MAC: macs[dev], MTU: set.MTU}
		if bd, ok := bonds[dev]; ok {
			base = Interface{Name: dev, Kind: KindBond, Slaves: slices.Clone(bd.Slaves), BondMode: bd.Mode, BondOptions: bd.Options, MTU: set.MTU}
			if base.BondMode == "" {
				base.BondMode = set.BondMode
			}
			if base.BondOptions == "" {
				base.BondOptions = set.BondOptions
			}
		}
		var vlans []Interface
		for _, a := range atts {
			if a.Device != dev {
				continue
			}
			n, ok := b.plan.netBy[a.Network]
			if !ok {
				continue
			}
			addr := b.address(nc, n)
			if a.Tagged {
				vlans = append(vlans, Interface{Name: fmt.Sprintf("%s.%d", dev, n.VLAN), Kind: KindVLAN, Parent: dev,
					VLAN: n.VLAN, Tagged: true, Network: n.Name, Address: addr, MTU: mtuOf(n.Name)})
				base.MTU = max(base.MTU, mtuOf(n.Name))
				continue
			}
			base.Network, base.VLAN, base.Address = n.Name, n.VLAN, addr
			base.MTU = max(base.MTU, mtuOf(n.Name))
		}
		np.Interfaces = append(np.Interfaces, base)
		for _, s := range base.Slaves {
			np.Interfaces = append(np.Interfaces, Interface{Name: s, Kind: KindEthernet, MAC: macs[s], Master: dev, MTU: base.MTU})
		}
		np.Interfaces = append(np.Interfaces, vlans...)
	}
	for _, name := range sortedKeys(bonds) {
		if !devs[name] {
			c.warnf("role."+bondRole[name]+".bond", nc.obj, "bond "+name,
				"bond %s carries no network (no iface names it): it is not configured", name)
		}
	}
	b.checkAddressKeys(nc)
	b.pxe(nc, set, slaveOf)
	b.gateway(nc, roles)
}

// address gives the node's address on network n: explicit, or its host
// number within the network, and checks it.
func (b *builder) address(nc *nodeCtx, n *Network) netip.Prefix {
	spec := nc.spec
	path := nc.path + ".host"
	var a netip.Addr
	if raw, ok := spec.Addresses[n.Name]; ok {
		path = nc.path + ".addresses"
		var err error
		if a, err = ParseAddr(raw, b.site.Site.X); err != nil {
			b.c.errorf(path, nc.obj, "addresses."+n.Name, "%v", err)
			return netip.Prefix{}
		}
	} else {
		if spec.Host == 0 {
			b.c.errorf(nc.path, nc.obj, "host", "no host number and no address for network %s", n.Name)
			return netip.Prefix{}
		}
		var err error
		if a, err = addHost(n.Prefix, spec.Host); err != nil {
			b.c.errorf(path, nc.obj, "host", "on network %s: %v", n.Name, err)
			return netip.Prefix{}
		}
	}
	field := "addresses." + n.Name
	if path == nc.path+".host" {
		field = "host"
	}
	if !b.checkAddr(nc, a, n.Name, path, field, fmt.Sprintf("%s on network %s", nc.spec.Name, n.Name)) {
		return netip.Prefix{}
	}
	how := nc.spec.Name + ", addresses." + n.Name
	if field == "host" {
		how = fmt.Sprintf("%s, host number %d in %s", nc.spec.Name, spec.Host, n.Prefix)
	}
	nc.np.Sources["address."+n.Name] = Source{Level: "node", Name: how, File: b.site.File, Line: b.c.pos.line(path)}
	return netip.PrefixFrom(a, n.Prefix.Bits())
}

// checkAddr checks that a node's address a is a usable host address of
// network netName (when given) and held by no one else.
func (b *builder) checkAddr(nc *nodeCtx, a netip.Addr, netName, path, field, who string) bool {
	var n *Network
	if netName != "" {
		n = b.plan.netBy[netName]
	} else {
		for _, x := range b.plan.Networks {
			if x.Purpose == PurposeDeviceMgmt {
				n = x
				break
			}
		}
	}
	if n != nil {
		switch {
		case !n.Prefix.Contains(a):
			b.c.errorf(path, nc.obj, field, "%s is outside network %s (%s)", a, n.Name, n.Prefix)
			return false
		case a == n.Prefix.Addr() || isBroadcast(n.Prefix, a):
			b.c.errorf(path, nc.obj, field, "%s is the network or broadcast address of %s", a, n.Prefix)
			return false
		case a == n.Gateway && (n.Router != nc.spec.Name || netName == ""):
			b.c.errorf(path, nc.obj, field, "%s is the gateway of network %s", a, n.Name)
			return false
		}
	}
	if prev, dup := b.owners[a]; dup {
		b.c.errorf(path, nc.obj, field, "address %s is already %s", a, prev)
		return false
	}
	b.owners[a] = who
	return true
}

// pxe picks the NIC the node boots from: it must be the management
// network's device or a slave of it, and the management network must be
// untagged there, since PXE firmware sends untagged frames.
func (b *builder) pxe(nc *nodeCtx, set Settings, slaveOf map[string]string) {
	np := nc.np
	mgmt := b.plan.Site.Management
	np.PXE.NIC = set.PXENIC
	for _, n := range np.Hardware.NICs {
		if n.Name == set.PXENIC {
			np.PXE.MAC = n.MAC
		}
	}
	src := np.Sources["pxe_nic"].describe()
	if _, ok := np.Interface(set.PXENIC); !ok && !slices.ContainsFunc(np.Hardware.NICs, func(n NIC) bool { return n.Name == set.PXENIC }) {
		b.c.errorf(nc.path, nc.obj, "pxe_nic", "%s (from %s) is not a NIC of hardware %s", set.PXENIC, src, np.Hardware.Name)
		return
	}
	for _, i := range np.Interfaces {
		if i.Network != mgmt || mgmt == "" {
			continue
		}
		if i.Tagged {
			b.c.errorf(nc.path, nc.obj, "iface "+i.Parent, "the management network %s is tagged on %s: PXE firmware sends untagged frames, so it must be the native VLAN", mgmt, i.Parent)
			return
		}
		if i.Name != set.PXENIC && slaveOf[set.PXENIC] != i.Name {
			b.c.errorf(nc.path, nc.obj, "pxe_nic", "%s (from %s) does not carry the management network %s (it is on %s)", set.PXENIC, src, mgmt, i.Name)
			return
		}
		np.PXE.Interface = i.Name
		np.PXE.Address = i.Address.Addr()
		np.PXE.Prefix = i.Address
		return
	}
	if mgmt != "" {
		b.c.errorf(nc.path+".roles", nc.obj, "roles", "no role puts the node on the management network %s: it cannot PXE-boot or be managed", mgmt)
	}
}

// gateway picks the default route: a network marked default_route that
// the node is on, else the management network.
func (b *builder) gateway(nc *nodeCtx, roles []*Role) {
	np := nc.np
	pick := func(pred func(*Network) bool) bool {
		for _, i := range np.Interfaces {
			n, ok := b.plan.netBy[i.Network]
			if ok && i.Address.IsValid() && n.Gateway.IsValid() && pred(n) && n.Router != np.Name {
				np.Gateway, np.GatewayNet = n.Gateway, n.Name
				return true
			}
		}
		return false
	}
	if !pick(func(n *Network) bool { return n.Default }) {
		pick(func(n *Network) bool { return n.Purpose == PurposeManagement })
	}
	for ri, r := range roles {
		for i, rs := range r.Routes {
			path := fmt.Sprintf("role.%s.route[%d]", np.Roles[ri], i)
			to, err := ParsePrefix(rs.To, b.site.Site.X)
			if err != nil {
				b.c.errorf(path+".to", nc.obj, "route.to", "%v", err)
				continue
			}
			via, err := ParseAddr(rs.Via, b.site.Site.X)
			if err != nil {
				b.c.errorf(path+".via", nc.obj, "route.via", "%v", err)
				continue
			}
			if rs.Network != "" {
				n, ok := b.plan.netBy[rs.Network]
				if !ok {
					b.c.errorf(path+".network", nc.obj, "route.network", "network %q is not defined", rs.Network)
					continue
				}
				if !n.Prefix.Contains(via) {
					b.c.errorf(path+".via", nc.obj, "route.via", "%s is outside network %s (%s)", via, n.Name, n.Prefix)
					continue
				}
			}
			dev := ""
			for _, ifc := range np.Interfaces {
				if ifc.Address.IsValid() && ifc.Address.Masked().Contains(via) {
					dev = ifc.Name
				}
			}
			if dev == "" {
				b.c.errorf(path+".via", nc.obj, "route.via", "%s is on none of the node's networks", via)
				continue
			}
			np.Routes = append(np.Routes, Route{To: to, Via: via, Interface: dev})
		}
	}
}

// checkAddressKeys refuses an explicit address for a network that is not
// defined or that the node has no interface on: a misspelt network name
// would otherwise be ignored silently.
func (b *builder) checkAddressKeys(nc *nodeCtx) {
	for _, name := range sortedKeys(nc.spec.Addresses) {
		if _, ok := b.plan.netBy[name]; !ok {
			b.c.errorf(nc.path+".addresses", nc.obj, "addresses."+name, "network %q is not defined", name)
			continue
		}
		if _, on := nc.np.AddressOn(name); !on {
			b.c.errorf(nc.path+".addresses", nc.obj, "addresses."+name, "the node has no interface on network %s (its roles attach none)", name)
		}
	}
}
