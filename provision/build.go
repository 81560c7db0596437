package provision

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Options tune Build.
type Options struct {
	// MACs discovered at run time (over the BMC), by node and NIC name.
	// They fill in MACs the site file does not give; a MAC that differs
	// from one the site file gives is a problem.
	MACs map[string]map[string]string
}

// builder carries the state of one Build.
type builder struct {
	site    *Site
	opt     Options
	c       *collector
	plan    *Plan
	catalog map[string]serviceInfo
	// owners maps every address of the site to who holds it, to find
	// duplicates across nodes, iDRACs, switches, VIPs and gateways.
	owners map[netip.Addr]string
	macs   map[string]string // MAC -> "node/nic"
	// vipAddr holds the valid address of each VIP, by index.
	vipAddr map[int]netip.Addr
	// badSettings remembers bad values set above node level, so each is
	// reported once where it is written rather than once per node.
	badSettings map[string]bool
}

// Build resolves a site into a plan and validates it, returning every
// problem at once. The plan is usable only when Problems.Err() is nil.
func Build(site *Site, opt Options) (*Plan, Problems) {
	b := &builder{
		site:        site,
		opt:         opt,
		c:           &collector{file: site.File, pos: site.positions},
		catalog:     services(),
		owners:      map[netip.Addr]string{},
		badSettings: map[string]bool{},
		macs:        map[string]string{},
		plan: &Plan{
			byName: map[string]*NodePlan{},
			byMAC:  map[string]*NodePlan{},
			netBy:  map[string]*Network{},
		},
	}
	b.header()
	b.networks()
	b.hardwareModels()
	b.roles()
	b.switches()
	b.vipAddresses()
	b.nodes()
	b.vips()
	b.cluster()
	b.plan.Stages = stages(b.plan.Nodes, b.catalog)
	return b.plan, b.c.probs
}

func (b *builder) header() {
	h := b.site.Site
	c := b.c
	p := &b.plan.Site
	p.Name, p.Domain, p.Timezone, p.X = h.Name, h.Domain, h.Timezone, h.X
	p.File = filepath.Base(b.site.File)
	p.Appliance = h.Appliance
	if h.Name == "" {
		c.errorf("site", "site", "name", "missing: name the site")
	}
	if h.Domain == "" || strings.ContainsAny(h.Domain, " /_") || strings.HasPrefix(h.Domain, ".") {
		c.errorf("site.domain", "site", "domain", "%q is not a DNS domain", h.Domain)
	}
	if h.Timezone == "" {
		c.errorf("site", "site", "timezone", "missing: set a time zone such as Asia/Shanghai")
	} else if !validTimezone(h.Timezone) {
		c.errorf("site.timezone", "site", "timezone", "%q is not a time zone name (Area/City)", h.Timezone)
	}
	if h.X < 0 || h.X > 255 {
		c.errorf("site.x", "site", "x", "%d is not an octet (0-255)", h.X)
	}
	if h.Appliance == "" {
		c.errorf("site", "site", "appliance", "missing: name the node the appliance runs on (admin01)")
	}
}

func validTimezone(tz string) bool {
	if tz == "UTC" {
		return true
	}
	area, city, ok := strings.Cut(tz, "/")
	return ok && area != "" && city != "" && !strings.ContainsAny(tz, " .")
}

func (b *builder) networks() {
	c := b.c
	vlans := map[int]string{}
	for i, ns := range b.site.Networks {
		path := fmt.Sprintf("network[%d]", i)
		obj := "network " + ns.Name
		if ns.Name == "" {
			c.errorf(path, fmt.Sprintf("network #%d", i+1), "name", "missing")
			continue
		}
		if _, dup := b.plan.netBy[ns.Name]; dup {
			c.errorf(path+".name", obj, "name", "defined twice")
			continue
		}
		n := &Network{Name: ns.Name, VLAN: ns.VLAN, Router: ns.Router, MTU: ns.MTU, Purpose: ns.Purpose, Default: ns.Default}
		if ns.VLAN < 1 || ns.VLAN > 4094 {
			c.errorf(path+".vlan", obj, "vlan", "%d is not a VLAN id (1-4094)", ns.VLAN)
		} else if other, dup := vlans[ns.VLAN]; dup {
			c.errorf(path+".vlan", obj, "vlan", "VLAN %d is also network %s", ns.VLAN, other)
		}
		vlans[ns.VLAN] = ns.Name
		if !slices.Contains(purposes(), ns.Purpose) {
			c.errorf(path+".purpose", obj, "purpose", "%q is not one of %s", ns.Purpose, strings.Join(purposes(), ", "))
		}
		if n.MTU == 0 {
			n.MTU = b.site.Defaults.MTU
		}
		if n.MTU == 0 {
			n.MTU = builtinSettings().MTU
		}
		if n.MTU < 576 || n.MTU > 9216 {
			c.errorf(path+".mtu", obj, "mtu", "%d is not a usable MTU (576-9216)", n.MTU)
		}
		pfx, err := ParsePrefix(ns.CIDR, b.site.Site.X)
		if err != nil {
			c.errorf(path+".cidr", obj, "cidr", "%v", err)
		}
		n.Prefix = pfx
		if ns.Gateway != "" {
			gw, err := ParseAddr(ns.Gateway, b.site.Site.X)
			switch {
			case err != nil:
				c.errorf(path+".gateway", obj, "gateway", "%v", err)
			case pfx.IsValid() && !pfx.Contains(gw):
				c.errorf(path+".gateway", obj, "gateway", "%s is outside the network %s", gw, pfx)
			default:
				n.Gateway = gw
				if ns.Router == "" {
					b.own(gw, "the gateway of network "+ns.Name, path+".gateway", obj, "gateway")
				}
			}
		}
		b.plan.Networks = append(b.plan.Networks, n)
		b.plan.netBy[n.Name] = n
	}
	var mgmt []string
	for _, n := range b.plan.Networks {
		if n.Purpose == PurposeManagement {
			mgmt = append(mgmt, n.Name)
		}
	}
	switch len(mgmt) {
	case 0:
		c.errorf("network", "site", "network", "no network has purpose %q: nodes have nowhere to PXE-boot", PurposeManagement)
	case 1:
		b.plan.Site.Management = mgmt[0]
	default:
		c.errorf("network", "site", "network", "networks %s all have purpose %q: PXE needs exactly one", strings.Join(mgmt, ", "), PurposeManagement)
	}
}

// own records that who holds address a, and reports a duplicate.
func (b *builder) own(a netip.Addr, who, path, obj, field string) {
	if prev, dup := b.owners[a]; dup {
		b.c.errorf(path, obj, field, "address %s is already %s", a, prev)
		return
	}
	b.owners[a] = who
}

func (b *builder) switches() {
	for i, s := range b.site.Switches {
		path := fmt.Sprintf("switch[%d]", i)
		obj := "switch " + s.Name
		sw := Switch{Name: s.Name, Model: s.Model, Network: s.Network}
		n, ok := b.plan.netBy[s.Network]
		if !ok {
			b.c.errorf(path+".network", obj, "network", "network %q is not defined", s.Network)
			continue
		}
		a, err := ParseAddr(s.Address, b.site.Site.X)
		if err != nil {
			b.c.errorf(path+".address", obj, "address", "%v", err)
			continue
		}
		if !n.Prefix.Contains(a) {
			b.c.errorf(path+".address", obj, "address", "%s is outside network %s (%s)", a, n.Name, n.Prefix)
			continue
		}
		if a == n.Gateway {
			b.c.errorf(path+".address", obj, "address", "%s is the gateway of network %s", a, n.Name)
			continue
		}
		sw.Address = a
		b.own(a, obj, path+".address", obj, "address")
		b.plan.Switches = append(b.plan.Switches, sw)
	}
}

// cluster checks the quorum of clustered services.
func (b *builder) cluster() {
	for _, svc := range quorumServices() {
		var members []string
		for _, n := range b.plan.Nodes {
			if n.HasService(svc) {
				members = append(members, n.Name)
			}
		}
		if len(members) == 0 {
			continue
		}
		path := "role"
		for _, name := range sortedKeys(b.site.Roles) {
			if slices.Contains(b.site.Roles[name].Services, svc) {
				path = "role." + name + ".services"
				break
			}
		}
		if len(members) < 3 || len(members)%2 == 0 {
			b.c.warnf(path, "site", "services", "%s runs on %d nodes (%s): a cluster keeps quorum through a failure only with an odd number of at least 3",
				svc, len(members), strings.Join(members, ", "))
		}
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
