package provision

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// nodeCtx is one node being resolved.
type nodeCtx struct {
	spec   *NodeSpec
	path   string // "node[3]"
	obj    string // "node compute05"
	hw     *Hardware
	hwName string
	np     *NodePlan
	// hwSource says where the hardware model came from.
	hwSource Source
}

func (b *builder) nodes() {
	seen := map[string]string{}
	for i, spec := range b.site.Nodes {
		nc := &nodeCtx{spec: spec, path: fmt.Sprintf("node[%d]", i), obj: "node " + spec.Name}
		if spec.Name == "" {
			nc.obj = fmt.Sprintf("node #%d", i+1)
		}
		switch {
		case spec.Name == "":
			b.c.errorf(nc.path, nc.obj, "name", "missing")
			continue
		case !validHostname(spec.Name):
			b.c.errorf(nc.path+".name", nc.obj, "name", "%q is not a host name (lower-case letters, digits, '-')", spec.Name)
			continue
		case seen[spec.Name] != "":
			b.c.errorf(nc.path+".name", nc.obj, "name", "host name %s is used twice (also at line %d)", spec.Name, b.c.pos.line(seen[spec.Name]))
			continue
		}
		seen[spec.Name] = nc.path + ".name"
		b.node(nc)
	}
	if a := b.site.Site.Appliance; a != "" {
		app, ok := b.plan.byName[a]
		if !ok {
			b.c.errorf("site.appliance", "site", "appliance", "node %q is not defined", a)
			return
		}
		app.Appliance = true
		mgmt := b.plan.Site.Management
		addr, ok := app.AddressOn(mgmt)
		if !ok {
			b.c.errorf("site.appliance", "site", "appliance", "node %s has no address on the management network %s", a, mgmt)
			return
		}
		b.plan.Site.ApplianceAddr = addr.Addr()
		b.plan.Site.ApplianceURL = "http://" + addr.Addr().String()
		if u := b.site.Site.ApplianceURL; u != "" {
			b.plan.Site.ApplianceURL = strings.TrimSuffix(u, "/")
		}
		for _, n := range b.plan.Nodes {
			n.DNS = []netip.Addr{addr.Addr()}
			n.NTP = []netip.Addr{addr.Addr()}
		}
	}
}

func (b *builder) node(nc *nodeCtx) {
	c := b.c
	spec := nc.spec
	np := &NodePlan{Name: spec.Name, Rack: spec.Rack, Unit: spec.Unit, Host: spec.Host}
	nc.np = np
	if b.site.Site.Domain != "" {
		np.FQDN = spec.Name + "." + b.site.Site.Domain
	}
	if len(spec.Roles) == 0 {
		c.errorf(nc.path, nc.obj, "roles", "missing: give the node at least one role")
	}
	var roles []*Role
	for _, r := range spec.Roles {
		role, ok := b.site.Roles[r]
		if !ok {
			c.errorf(nc.path+".roles", nc.obj, "roles", "role %q is not defined", r)
			continue
		}
		np.Roles = append(np.Roles, r)
		roles = append(roles, role)
	}
	hwName := b.nodeHardware(nc, roles)
	if nc.hw == nil {
		return
	}
	layers := []settingsLayer{
		{src: Source{Level: "built-in"}, s: ptr(builtinSettings())},
		{src: Source{Level: "site", Name: "[defaults]"}, path: "defaults", s: &b.site.Defaults},
		{src: Source{Level: "hardware", Name: hwName}, path: "hardware." + hwName, s: &nc.hw.Settings},
	}
	for i, r := range roles {
		layers = append(layers, settingsLayer{src: Source{Level: "role", Name: np.Roles[i]}, path: "role." + np.Roles[i], s: &r.Settings})
	}
	layers = append(layers, settingsLayer{src: Source{Level: "node", Name: spec.Name}, path: nc.path, s: &spec.Settings})
	set, sources := resolveSettings(c.pos, layers)
	for k, s := range sources {
		if s.Line > 0 {
			s.File = b.site.File
			sources[k] = s
		}
	}
	sources["hardware"] = nc.hwSource
	np.Sources = sources
	np.settings = set
	b.applySettings(nc, set)

	np.Hardware = b.hardwarePlan(hwName, nc.hw, b.nodeMACs(nc))
	np.Storage = volumes(nc.hw, np.Hardware, np.RAIDMode)
	for _, r := range roles {
		np.Services = appendUnique(np.Services, r.Services...)
		np.Packages = appendUnique(np.Packages, r.Packages...)
	}
	b.interfaces(nc, roles, set)
	b.needs(nc, roles)
	b.idrac(nc)
	b.plan.Nodes = append(b.plan.Nodes, np)
	b.plan.byName[np.Name] = np
	for _, nic := range np.Hardware.NICs {
		if nic.MAC != "" {
			b.plan.byMAC[nic.MAC] = np
		}
	}
}

func ptr[T any](v T) *T { return &v }

func appendUnique(dst []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

// nodeHardware finds the node's hardware model: its own, or its roles',
// which must agree.
func (b *builder) nodeHardware(nc *nodeCtx, roles []*Role) string {
	name := nc.spec.Hardware
	if name == "" {
		for i, r := range roles {
			switch {
			case r.Hardware == "":
			case name == "":
				name = r.Hardware
			case name != r.Hardware:
				b.c.errorf(nc.path+".roles", nc.obj, "roles", "its roles name different hardware (%s, and %s for role %s): set hardware on the node",
					name, r.Hardware, nc.np.Roles[i])
				return ""
			}
		}
	}
	if name == "" {
		if len(roles) > 0 {
			b.c.errorf(nc.path, nc.obj, "hardware", "none of its roles names a hardware model")
		}
		return ""
	}
	hw, ok := b.site.Hardware[name]
	if !ok {
		b.c.errorf(nc.path+".hardware", nc.obj, "hardware", "hardware model %q is not defined", name)
		return ""
	}
	nc.hw, nc.hwName = hw, name
	nc.hwSource = Source{Level: "node", Name: nc.spec.Name, File: b.site.File, Line: b.c.pos.line(nc.path + ".hardware")}
	if nc.spec.Hardware == "" {
		for i, r := range roles {
			if r.Hardware == name {
				nc.hwSource = Source{Level: "role", Name: nc.np.Roles[i], File: b.site.File, Line: b.c.pos.line("role." + nc.np.Roles[i] + ".hardware")}
				break
			}
		}
	}
	return name
}

func (b *builder) applySettings(nc *nodeCtx, s Settings) {
	c, np := b.c, nc.np
	np.BootMode, np.Loader, np.RAIDMode, np.Image = s.BootMode, s.Loader, s.RAID, s.Image
	np.Console, np.SELinux, np.Lang, np.Keyboard = s.Console, s.SELinux, s.Lang, s.Keyboard
	np.Netboot, np.Firewall = *s.Netboot, *s.Firewall
	np.KernelArgs = slices.Clone(s.KernelArgs)
	check := func(key, val string, allowed ...string) {
		if slices.Contains(allowed, val) {
			return
		}
		src := np.Sources[key]
		obj := nc.obj
		if src.Level != "node" {
			// Set for many nodes at once: say it once, where it is set.
			once := fmt.Sprintf("%s\x00%s\x00%s\x00%d", key, val, src.Level, src.Line)
			if b.badSettings[once] {
				return
			}
			b.badSettings[once] = true
			obj = strings.TrimSpace(src.Level + " " + src.Name)
		}
		c.probs = append(c.probs, Problem{File: b.site.File, Line: src.Line, Object: obj, Field: key,
			Msg: fmt.Sprintf("%q (from %s) is not one of %s", val, src.describe(), strings.Join(allowed, ", "))})
	}
	check("boot_mode", s.BootMode, "bios", "uefi")
	check("loader", s.Loader, "ipxe", "pxelinux")
	check("raid", s.RAID, "software", "hardware")
	check("selinux", s.SELinux, "enforcing", "permissive", "disabled")
	if s.BootMode == "uefi" && s.Loader == "pxelinux" {
		c.errorf(nc.path, nc.obj, "loader", "pxelinux boots BIOS firmware only; this node boots UEFI: use loader = \"ipxe\"")
	}
}

// describe names a source for a person: "role compute (paper.toml:88)".
func (s Source) describe() string {
	if s.Level == "" {
		return "unset"
	}
	out := s.Level
	if s.Name != "" {
		out += " " + s.Name
	}
	if s.Line > 0 {
		out += fmt.Sprintf(" (%s:%d)", s.File, s.Line)
	}
	return out
}

// nodeMACs returns the node's MACs by NIC, from the site file and then
// from discovery, and checks them.
func (b *builder) nodeMACs(nc *nodeCtx) map[string]string {
	nics := map[string]bool{}
	for _, n := range nc.hw.NICs {
		nics[n.Name] = true
	}
	out := map[string]string{}
	add := func(nic, raw, path, from string) {
		mac, err := ParseMAC(raw)
		switch {
		case err != nil:
			b.c.errorf(path, nc.obj, "macs."+nic, "%v", err)
			return
		case !nics[nic]:
			b.c.errorf(path, nc.obj, "macs."+nic, "%s is not a NIC of hardware %s", nic, nc.hwName)
			return
		}
		if prev, ok := out[nic]; ok {
			if prev != mac {
				b.c.errorf(path, nc.obj, "macs."+nic, "discovered MAC %s differs from %s in the site file", mac, prev)
			}
			return
		}
		if owner, dup := b.macs[mac]; dup {
			b.c.errorf(path, nc.obj, "macs."+nic, "MAC %s %sis already %s", mac, from, owner)
			return
		}
		b.macs[mac] = nc.spec.Name + " " + nic
		out[nic] = mac
	}
	for _, nic := range sortedKeys(nc.spec.MACs) {
		add(nic, nc.spec.MACs[nic], nc.path+".macs", "")
	}
	disc := b.opt.MACs[nc.spec.Name]
	for _, nic := range sortedKeys(disc) {
		add(nic, disc[nic], nc.path, "(discovered) ")
	}
	return out
}

// needs checks that the node is on every network its services need.
func (b *builder) needs(nc *nodeCtx, roles []*Role) {
	have := map[string]bool{}
	for _, i := range nc.np.Interfaces {
		if n, ok := b.plan.netBy[i.Network]; ok {
			have[n.Purpose] = true
		}
	}
	for ri, r := range roles {
		for _, s := range r.Services {
			for _, need := range b.catalog[s].needs {
				if !have[need] {
					b.c.errorf("role."+nc.np.Roles[ri]+".services", nc.obj, "role "+nc.np.Roles[ri],
						"service %s needs %s network, and the node is on none", s, article(need))
					have[need] = true // say it once per node
				}
			}
		}
	}
}

func (b *builder) idrac(nc *nodeCtx) {
	np, spec := nc.np, nc.spec
	np.IDRAC.Port = spec.IDRACPort
	if np.IDRAC.Port == 0 {
		np.IDRAC.Port = 443
	}
	path := nc.path + ".idrac"
	var a netip.Addr
	if spec.IDRAC != "" {
		var err error
		a, err = ParseAddr(spec.IDRAC, b.site.Site.X)
		if err != nil {
			b.c.errorf(path, nc.obj, "idrac", "%v", err)
			return
		}
	} else {
		var dev *Network
		for _, n := range b.plan.Networks {
			if n.Purpose == PurposeDeviceMgmt {
				dev = n
				break
			}
		}
		if dev == nil || spec.Host == 0 {
			b.c.warnf(nc.path, nc.obj, "idrac", "no iDRAC address (set idrac, or host with a device-management network): the node cannot be powered remotely")
			return
		}
		var err error
		a, err = addHost(dev.Prefix, spec.Host)
		if err != nil {
			b.c.errorf(nc.path+".host", nc.obj, "host", "iDRAC on %s: %v", dev.Name, err)
			return
		}
	}
	np.IDRAC.Address = a
	src := Source{Level: "node", Name: spec.Name, File: b.site.File, Line: b.c.pos.line(path)}
	if spec.IDRAC == "" {
		src.Line = b.c.pos.line(nc.path + ".host")
		src.Name += ", host number on the device-management network"
	}
	np.Sources["idrac"] = src
	np.IDRAC.Endpoint = "https://" + netip.AddrPortFrom(a, uint16(np.IDRAC.Port)).String()
	if np.IDRAC.Port == 443 {
		np.IDRAC.Endpoint = "https://" + a.String()
	}
	b.checkAddr(nc, a, "", path, "idrac", "the iDRAC of "+np.Name)
}

// article puts "a" or "an" before a word.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}
