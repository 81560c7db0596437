package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"sort"

	"github.com/provision/provision/provision"
)

// Inputs is what a bundle needs beyond the plan. It holds secrets: never
// log it.
type Inputs struct {
	// Secrets are the generated secrets (database passwords, Erlang
	// cookie, VRRP password...).
	Secrets Secrets
	// VPN is the OpenVPN server's PKI: needed by a node running openvpn.
	VPN *VPNServer
	// Serial is the DNS zones' SOA serial (the CLI uses the Unix time).
	Serial uint32
}

// ErrNoVPN is returned for a node running openvpn without a PKI in Inputs.
var ErrNoVPN = errors.New("the node runs openvpn but no VPN PKI was given")

// ErrUnknownNode is returned for a VIP naming a node the plan lacks.
var ErrUnknownNode = errors.New("unknown node")

// ErrNoManagement is returned for a node without a management address.
var ErrNoManagement = errors.New("node has no address on the management network")

// tmplFile is a file rendered from a template.
type tmplFile struct {
	path, tmpl, owner string
	mode              fs.FileMode
	secret            bool
}

// view is everything the templates read, worked out in Go so the
// templates only lay it out.
type view struct {
	Site      provision.SitePlan
	Node      *provision.NodePlan
	Admin     bool // the appliance host: Debian, apt-get, systemctl
	Mgmt      netip.Addr
	MgmtNet   *provision.Network
	Appliance netip.Addr
	RepoURL   string
	// S holds the revealed generated secrets, by name; only templates
	// read it.
	S        map[string]string
	Hosts    []hostLine
	Sysctl   []kv
	NoFile   int
	Packages []string

	VIP   vipAddrs
	LB    *lbView
	Ctl   *ctlView
	OS    []setting
	Net   *netView
	Comp  *computeView
	Block *blockView
	Swift *swiftView
	DNS   *dnsView
	VPN   *vpnView

	// DBNames are the OpenStack databases, DBHosts the MySQL host
	// pattern of the management network, SvcUsers Keystone's service
	// users.
	DBNames  []string
	DBHosts  string
	SvcUsers []string

	Installed []File
	tmpls     []tmplFile
	extra     []File
}

type hostLine struct {
	Addr  netip.Addr
	Names []string
}

type kv struct{ Key, Value string }

// vipAddrs are the addresses clients use for the cloud's services: the
// VIPs when the site has them, else the first backend.
type vipAddrs struct {
	Internal, Public, Swift netip.Addr
}

func newView(plan *provision.Plan, n *provision.NodePlan, in Inputs) (*view, error) {
	mgmt, ok := n.AddressOn(plan.Site.Management)
	if !ok {
		return nil, fmt.Errorf("profiles: node %s: %w", n.Name, ErrNoManagement)
	}
	v := &view{
		Site: plan.Site, Node: n, Admin: n.Appliance, Mgmt: mgmt.Addr(),
		MgmtNet: plan.ManagementNetwork(), Appliance: plan.Site.ApplianceAddr,
		RepoURL: plan.Site.ApplianceURL + "/repos", S: in.Secrets.reveal(), NoFile: 65536,
	}
	v.DBNames = []string{"keystone", "glance", "nova", "cinder", "neutron"}
	v.SvcUsers = []string{"glance", "nova", "cinder", "neutron", "swift"}
	v.DBHosts = v.MgmtNet.Prefix.Masked().Addr().String() + "/" + mask(v.MgmtNet.Prefix)
	v.Hosts = hosts(plan)
	v.VIP = vipsOf(plan)
	v.common()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n.HasService("haproxy") || n.HasService("keepalived") {
		add(v.loadBalancer(plan))
	}
	if n.HasService("galera") || n.HasService("rabbitmq-server") || n.HasService("keystone") {
		add(v.controller(plan))
	}
	if v.Admin {
		add(v.admin(plan, in))
	} else {
		v.openstack(plan)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("profiles: node %s: %w", n.Name, err)
	}
	v.file("/etc/sysctl.d/90-provision.conf", "sysctl.tmpl", 0o644)
	v.Packages = dedupe(v.Packages)
	return v, nil
}

// files lists the templated files of the node, in install order.
func (v *view) files() []tmplFile { return v.tmpls }

func (v *view) file(path, tmpl string, mode fs.FileMode) {
	v.tmpls = append(v.tmpls, tmplFile{path: path, tmpl: tmpl, mode: mode, owner: "root:root"})
}

func (v *view) secretFile(path, tmpl, owner string, mode fs.FileMode) {
	v.tmpls = append(v.tmpls, tmplFile{path: path, tmpl: tmpl, mode: mode, owner: owner, secret: true})
}

// common is what every node gets: time, name resolution, monitoring, log
// shipping, kernel settings.
func (v *view) common() {
	v.Sysctl = []kv{
		{"net.ipv4.tcp_keepalive_time", "30"},
		{"net.ipv4.tcp_keepalive_intvl", "10"},
		{"net.ipv4.tcp_keepalive_probes", "5"},
		{"net.core.somaxconn", "4096"},
		{"fs.file-max", "1000000"},
	}
	v.file("/etc/hosts", "hosts.tmpl", 0o644)
	v.file("/etc/security/limits.d/90-provision.conf", "limits.tmpl", 0o644)
	if v.Admin {
		// Debian: ntpsec is the time source; zones, VPN, monitoring.
		v.Sysctl = append(v.Sysctl, kv{"net.ipv4.ip_forward", "1"})
		v.file("/etc/zabbix/zabbix_agentd.conf", "zabbix_agentd.conf.tmpl", 0o644)
		return
	}
	v.file("/etc/yum.repos.d/provision.repo", "provision.repo.tmpl", 0o644)
	v.file("/etc/ntp.conf", "ntp.conf.tmpl", 0o644)
	v.file("/etc/resolv.conf", "resolv.conf.tmpl", 0o644)
	v.file("/etc/zabbix/zabbix_agentd.conf", "zabbix_agentd.conf.tmpl", 0o644)
	v.file("/etc/rsyslog.d/90-provision.conf", "rsyslog.conf.tmpl", 0o644)
	v.Packages = append(v.Packages, "ntp", "zabbix-agent", "rsyslog", "openstack-utils", "openstack-selinux")
}

// hosts lists every node's management address with its FQDN and short
// name, and each VIP's address with the VIP's name.
func hosts(plan *provision.Plan) []hostLine {
	var out []hostLine
	for _, n := range plan.Nodes {
		if a, ok := n.AddressOn(plan.Site.Management); ok {
			out = append(out, hostLine{a.Addr(), []string{n.FQDN, n.Name}})
		}
	}
	for _, vip := range plan.VIPs {
		out = append(out, hostLine{vip.Address, []string{vip.Name + "-vip." + plan.Site.Domain, vip.Name + "-vip"}})
	}
	return out
}

// vipsOf finds the VIPs the services are reached through.
func vipsOf(plan *provision.Plan) vipAddrs {
	var v vipAddrs
	for _, vip := range plan.VIPs {
		net, _ := plan.Network(vip.Network)
		switch {
		case slices.Contains(vip.Services, "swift-proxy") && !v.Swift.IsValid():
			v.Swift = vip.Address
		case slices.Contains(vip.Services, "keystone") && vip.Network == plan.Site.Management && !v.Internal.IsValid():
			v.Internal = vip.Address
		case slices.Contains(vip.Services, "keystone") && net != nil && net.Purpose == provision.PurposeInternet && !v.Public.IsValid():
			v.Public = vip.Address
		}
	}
	first := func(service string) netip.Addr {
		for _, n := range sortedNodes(plan, service) {
			if a, ok := n.AddressOn(plan.Site.Management); ok {
				return a.Addr()
			}
		}
		return netip.Addr{}
	}
	if !v.Internal.IsValid() {
		v.Internal = first("keystone")
	}
	if !v.Public.IsValid() {
		v.Public = v.Internal
	}
	if !v.Swift.IsValid() {
		v.Swift = first("swift-proxy")
	}
	return v
}

// sortedNodes returns the nodes running service, by name.
func sortedNodes(plan *provision.Plan, service string) []*provision.NodePlan {
	var out []*provision.NodePlan
	for _, n := range plan.Nodes {
		if n.HasService(service) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// addrsOf returns the addresses on network of the nodes running service,
// by node name.
func addrsOf(plan *provision.Plan, service, network string) []peer {
	var out []peer
	for _, n := range sortedNodes(plan, service) {
		if a, ok := n.AddressOn(network); ok {
			out = append(out, peer{Name: n.Name, Addr: a.Addr()})
		}
	}
	return out
}

type peer struct {
	Name string
	Addr netip.Addr
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// addressOnPurpose returns the node's address on the first network of a
// purpose.
func addressOnPurpose(plan *provision.Plan, n *provision.NodePlan, purpose string) (netip.Addr, string, bool) {
	for _, i := range n.Interfaces {
		if i.Network == "" || !i.Address.IsValid() {
			continue
		}
		if net, ok := plan.Network(i.Network); ok && net.Purpose == purpose {
			return i.Address.Addr(), i.Name, true
		}
	}
	return netip.Addr{}, "", false
}
