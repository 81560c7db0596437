package kickstart

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/provision/provision/provision"
)

// file is a file %post writes: its content goes into a quoted here
// document, so nothing in it is expanded by the shell.
type file struct {
	Path    string
	Mode    string
	Content string
}

// kv builds a shell-variable file (ifcfg, sysconfig) line by line.
type kv struct{ b strings.Builder }

func (k *kv) set(key, val string) {
	k.b.WriteString(key)
	k.b.WriteByte('=')
	if strings.ContainsAny(val, " \t\"'$`\\") {
		k.b.WriteByte('"')
		k.b.WriteString(val)
		k.b.WriteByte('"')
	} else {
		k.b.WriteString(val)
	}
	k.b.WriteByte('\n')
}

const scripts = "/etc/sysconfig/network-scripts/"

// networkFiles writes every interface of the node's plan as EL6
// network-scripts, with the bonding aliases, static routes and
// /etc/sysconfig/network.
func networkFiles(node *provision.NodePlan) ([]file, error) {
	var out []file
	var aliases strings.Builder
	gwDev := ""
	for _, i := range node.Interfaces {
		if i.Network != "" && i.Network == node.GatewayNet && i.Address.IsValid() {
			gwDev = i.Name
		}
		c, err := ifcfg(node, i)
		if err != nil {
			return nil, err
		}
		out = append(out, file{Path: scripts + "ifcfg-" + i.Name, Mode: "0644", Content: c})
		if i.Kind == provision.KindBond {
			aliases.WriteString("alias " + i.Name + " bonding\n")
		}
	}
	if aliases.Len() > 0 {
		out = append(out, file{Path: "/etc/modprobe.d/bonding.conf", Mode: "0644",
			Content: "# EL6: bonding options live in BONDING_OPTS of each ifcfg-bondN.\n" + aliases.String()})
	}
	routes := map[string]*strings.Builder{}
	var order []string
	for _, r := range node.Routes {
		b, ok := routes[r.Interface]
		if !ok {
			b = &strings.Builder{}
			routes[r.Interface] = b
			order = append(order, r.Interface)
		}
		fmt.Fprintf(b, "%s via %s dev %s\n", r.To, r.Via, r.Interface)
	}
	for _, dev := range order {
		out = append(out, file{Path: scripts + "route-" + dev, Mode: "0644", Content: routes[dev].String()})
	}
	var n kv
	n.set("NETWORKING", "yes")
	n.set("NETWORKING_IPV6", "no")
	n.set("NOZEROCONF", "yes")
	n.set("HOSTNAME", node.FQDN)
	if node.Gateway.IsValid() {
		n.set("GATEWAY", node.Gateway.String())
		if gwDev != "" {
			n.set("GATEWAYDEV", gwDev)
		}
	}
	out = append(out, file{Path: "/etc/sysconfig/network", Mode: "0644", Content: n.b.String()})
	return out, nil
}

// ifcfg is the network-scripts file of one interface.
func ifcfg(node *provision.NodePlan, i provision.Interface) (string, error) {
	var k kv
	k.set("DEVICE", i.Name)
	switch i.Kind {
	case provision.KindBond:
		k.set("BONDING_OPTS", bondingOpts(i))
	case provision.KindVLAN:
		if i.Parent == "" || i.VLAN == 0 || i.Name != fmt.Sprintf("%s.%d", i.Parent, i.VLAN) {
			return "", fmt.Errorf("node %s: interface %s: %w: EL6 names a VLAN device PARENT.VID", node.Name, i.Name, ErrUnsupported)
		}
		// EL6's ifup-eth takes the parent and the VLAN id from the name.
		k.set("VLAN", "yes")
	case provision.KindEthernet:
		k.set("TYPE", "Ethernet")
		if i.MAC != "" {
			k.set("HWADDR", strings.ToUpper(i.MAC))
		}
		if i.Master != "" {
			k.set("MASTER", i.Master)
			k.set("SLAVE", "yes")
		}
	default:
		return "", fmt.Errorf("node %s: interface %s: %w: kind %q", node.Name, i.Name, ErrUnsupported, i.Kind)
	}
	k.set("ONBOOT", "yes")
	k.set("BOOTPROTO", "none")
	if i.Address.IsValid() {
		k.set("IPADDR", i.Address.Addr().String())
		k.set("NETMASK", netmask(i.Address.Bits()))
	}
	if i.MTU > 0 {
		k.set("MTU", strconv.Itoa(i.MTU))
	}
	// Only /etc/sysconfig/network holds the default gateway; no interface
	// file may add its own default route.
	if i.Address.IsValid() {
		k.set("DEFROUTE", yesNo(i.Network == node.GatewayNet))
	}
	k.set("IPV6INIT", "no")
	k.set("NM_CONTROLLED", "no")
	k.set("USERCTL", "no")
	return k.b.String(), nil
}

// bondingOpts is BONDING_OPTS: the plan's mode, then its options.
func bondingOpts(i provision.Interface) string {
	opts := strings.Fields(i.BondOptions)
	for _, o := range opts {
		if strings.HasPrefix(o, "mode=") {
			return strings.Join(opts, " ")
		}
	}
	mode := i.BondMode
	if mode == "" {
		mode = "802.3ad"
	}
	return strings.Join(append([]string{"mode=" + mode}, opts...), " ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
