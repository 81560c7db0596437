package kickstart

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/provision/provision/provision"
)

// KickstartURL is where the node's installer fetches its kickstart.
func KickstartURL(plan *provision.Plan, node *provision.NodePlan) string {
	return strings.TrimRight(plan.Site.ApplianceURL, "/") + "/api/v1/nodes/" + node.Name + "/kickstart"
}

// EventsURL is where the installing node reports its progress (see the
// package documentation for the request).
func EventsURL(plan *provision.Plan, node *provision.NodePlan) string {
	return strings.TrimRight(plan.Site.ApplianceURL, "/") + "/api/v1/nodes/" + node.Name + "/events"
}

// LogsURL is where the node's installer uploads its logs: one POST of
// the file's bytes to LogsURL/<name> per log, with the node's token.
func LogsURL(plan *provision.Plan, node *provision.NodePlan) string {
	return strings.TrimRight(plan.Site.ApplianceURL, "/") + "/api/v1/nodes/" + node.Name + "/logs"
}

// MaxLogBytes is the largest log upload the appliance takes; the
// kickstart sends the last MaxLogBytes of a longer file.
const MaxLogBytes = 4 << 20

// IPXEBootIF is the BOOTIF argument in iPXE's syntax: iPXE expands it to
// the MAC of the NIC it booted from, with hyphens.
const IPXEBootIF = "BOOTIF=01-${netX/mac:hexhyp}"

// KernelArgs returns the CentOS 6.5 installer's kernel command line for the
// node, one argument per element, for the boot config (iPXE script or
// pxelinux entry) to pass after the kernel and initrd.
//
// network --device=bootif in the kickstart needs BOOTIF. When the plan
// knows the PXE NIC's MAC it is given literally; otherwise an iPXE loader
// gets IPXEBootIF and a pxelinux loader gets none: its config must say
// IPAPPEND 2, which appends BOOTIF itself (two BOOTIF arguments would be
// ambiguous, so pxelinux configs must not use IPAPPEND 2 when BOOTIF is
// present here).
func KernelArgs(plan *provision.Plan, node *provision.NodePlan) ([]string, error) {
	if node.Appliance {
		return nil, fmt.Errorf("node %s: %w", node.Name, ErrAppliance)
	}
	inst, err := installNetwork(plan, node)
	if err != nil {
		return nil, err
	}
	args := []string{
		"ks=" + KickstartURL(plan, node),
		"ksdevice=bootif",
		"kssendmac",
	}
	switch {
	case node.PXE.MAC != "":
		args = append(args, "BOOTIF=01-"+strings.ReplaceAll(strings.ToLower(node.PXE.MAC), ":", "-"))
	case node.Loader != "pxelinux":
		args = append(args, IPXEBootIF)
	}
	args = append(args,
		"ip="+inst.IP, "netmask="+inst.Netmask, "gateway="+inst.Gateway, "dns="+inst.DNS,
		"noipv6", "biosdevname=1", "text")
	args = append(args, consoleArgs(node.Console)...)
	args = append(args, node.KernelArgs...)
	return args, nil
}

// consoleArgs keeps the local console and adds the serial one, so both
// the iDRAC virtual console and serial-over-LAN show the install.
func consoleArgs(console string) []string {
	if console == "" {
		return nil
	}
	return []string{"console=tty0", "console=" + console}
}

// installNet is the network the installer itself uses: the PXE NIC,
// static, on the management network.
type installNet struct {
	Device, IP, Netmask, Gateway, DNS, Hostname string
}

func installNetwork(plan *provision.Plan, node *provision.NodePlan) (installNet, error) {
	p := node.PXE
	if !p.Address.IsValid() || !p.Prefix.IsValid() {
		return installNet{}, fmt.Errorf("node %s: %w", node.Name, ErrNoPXEAddress)
	}
	if pi, ok := node.Interface(p.Interface); ok && pi.Kind == provision.KindVLAN {
		return installNet{}, fmt.Errorf("node %s: PXE interface %s is a tagged VLAN: %w", node.Name, p.Interface, ErrUnsupported)
	}
	gw := plan.Site.ApplianceAddr
	if m := plan.ManagementNetwork(); m != nil && m.Gateway.IsValid() {
		gw = m.Gateway
	}
	dns := plan.Site.ApplianceAddr
	if len(node.DNS) > 0 {
		dns = node.DNS[0]
	}
	return installNet{
		Device:   p.NIC,
		IP:       p.Address.String(),
		Netmask:  netmask(p.Prefix.Bits()),
		Gateway:  gw.String(),
		DNS:      dns.String(),
		Hostname: node.FQDN,
	}, nil
}

// netmask writes an IPv4 prefix length as a dotted mask, which EL6's
// kickstart, boot options and ifcfg files all accept.
func netmask(bits int) string {
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}
