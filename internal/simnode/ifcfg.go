package simnode

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ifcfg is one EL6 network-scripts file.
type ifcfg struct {
	device  string
	kind    string // ethernet, bond, vlan
	master  string // for a bond slave
	opts    string // BONDING_OPTS
	addr    netip.Prefix
	mtu     int
	defrout bool
	onboot  bool
}

// netConfig is the installed system's network: its ifcfg files and
// /etc/sysconfig/network.
type netConfig struct {
	ifaces     []ifcfg
	gateway    netip.Addr
	gatewayDev string
}

// parseShellVars reads KEY=value lines (values optionally quoted).
func parseShellVars(data string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[k] = unquote(v)
	}
	return m
}

// parseIfcfg reads one ifcfg file's variables.
func parseIfcfg(vars map[string]string) (ifcfg, error) {
	c := ifcfg{device: vars["DEVICE"], master: vars["MASTER"], opts: vars["BONDING_OPTS"],
		onboot: !strings.EqualFold(vars["ONBOOT"], "no"), defrout: strings.EqualFold(vars["DEFROUTE"], "yes")}
	if c.device == "" {
		return c, fmt.Errorf("no DEVICE")
	}
	switch {
	case strings.EqualFold(vars["VLAN"], "yes"):
		c.kind = "vlan"
	case c.opts != "" || strings.EqualFold(vars["TYPE"], "Bond") || strings.HasPrefix(c.device, "bond"):
		c.kind = "bond"
	default:
		c.kind = "ethernet"
	}
	if ip := vars["IPADDR"]; ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return c, fmt.Errorf("%s: IPADDR %q: %w", c.device, ip, err)
		}
		bits := 24
		if p := vars["PREFIX"]; p != "" {
			if bits, err = strconv.Atoi(p); err != nil {
				return c, fmt.Errorf("%s: PREFIX %q: %w", c.device, p, err)
			}
		} else if m := vars["NETMASK"]; m != "" {
			mask, err := netip.ParseAddr(m)
			if err != nil || !mask.Is4() {
				return c, fmt.Errorf("%s: NETMASK %q is not an IPv4 mask", c.device, m)
			}
			bits = maskBits(mask)
		}
		c.addr = netip.PrefixFrom(a, bits)
	}
	if m := vars["MTU"]; m != "" {
		c.mtu, _ = strconv.Atoi(m)
	}
	return c, nil
}

func maskBits(mask netip.Addr) int {
	bits := 0
	for _, x := range mask.As4() {
		for ; x&0x80 != 0; x <<= 1 {
			bits++
		}
	}
	return bits
}

// readNetConfig reads the installed system's network files under root.
func readNetConfig(root string) (netConfig, error) {
	var nc netConfig
	dir := filepath.Join(root, "etc", "sysconfig", "network-scripts")
	files, err := filepath.Glob(filepath.Join(dir, "ifcfg-*"))
	if err != nil {
		return nc, fmt.Errorf("ifcfg files: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		if filepath.Base(f) == "ifcfg-lo" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nc, fmt.Errorf("ifcfg: %w", err)
		}
		c, err := parseIfcfg(parseShellVars(string(data)))
		if err != nil {
			return nc, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if c.onboot {
			nc.ifaces = append(nc.ifaces, c)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc", "sysconfig", "network")); err == nil {
		vars := parseShellVars(string(data))
		nc.gateway, _ = netip.ParseAddr(vars["GATEWAY"])
		nc.gatewayDev = vars["GATEWAYDEV"]
	}
	return nc, nil
}

// vlanParent splits "bond2.104" into its parent and VLAN ID.
func vlanParent(dev string) (string, int, bool) {
	i := strings.LastIndexByte(dev, '.')
	if i <= 0 {
		return "", 0, false
	}
	id, err := strconv.Atoi(dev[i+1:])
	if err != nil || id < 1 || id > 4094 {
		return "", 0, false
	}
	return dev[:i], id, true
}

// ordered sorts devices so each comes after what it needs: NICs, then
// bonds, then VLANs.
func (nc netConfig) ordered() []ifcfg {
	rank := map[string]int{"ethernet": 0, "bond": 1, "vlan": 2}
	out := append([]ifcfg(nil), nc.ifaces...)
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].kind] < rank[out[j].kind] })
	return out
}

// bondArgs turns BONDING_OPTS into ip link arguments ("mode 802.3ad
// miimon 100 ..."); options ip does not know are dropped.
func bondArgs(opts string) []string {
	known := map[string]bool{"mode": true, "miimon": true, "lacp_rate": true, "xmit_hash_policy": true,
		"updelay": true, "downdelay": true, "primary": true, "ad_select": true, "arp_interval": true}
	var out []string
	for _, f := range strings.Fields(opts) {
		k, v, ok := strings.Cut(f, "=")
		if ok && known[k] {
			out = append(out, k, v)
		}
	}
	return out
}
