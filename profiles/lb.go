package profiles

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/provision/provision/provision"
)

// lbView is a load balancer's HAProxy and Keepalived configuration.
type lbView struct {
	Listeners []listener
	Instances []vrrpInstance
}

type listener struct {
	Name string
	Bind netip.Addr
	Port int
	// Check is the HTTP health check path; empty for a TCP check.
	Check string
	// MySQL checks with a MySQL handshake as user haproxy_check.
	MySQL bool
	// Long is for long-lived connections (database, AMQP).
	Long     bool
	Backends []backend
}

type backend struct {
	Name   string
	Addr   netip.Addr
	Port   int
	Backup bool
}

type vrrpInstance struct {
	Name      string
	Interface string
	RouterID  int
	Priority  int
	Src       netip.Addr
	Peers     []netip.Addr
	VIP       netip.Prefix
}

// httpChecks are the paths HAProxy checks each API on. Keystone, Glance
// and Cinder answer / with 300 Multiple Choices, which httpchk counts as
// up; the rest are checked by connecting.
func httpChecks() map[string]string {
	return map[string]string{
		"keystone": "/", "glance-api": "/", "nova-api": "/", "nova-metadata": "/",
		"cinder-api": "/", "neutron-server": "/", "swift-proxy": "/healthcheck",
	}
}

// firstPriority is the priority of a VIP's preferred holder; each next
// holder in the rotation gets prioritySpread less.
const (
	firstPriority  = 150
	prioritySpread = 50
	firstRouterID  = 51
)

// loadBalancer builds the HAProxy listeners of every VIP the node holds
// and one VRRP instance per VIP. Priorities rotate over the holders, so
// with two load balancers and three VIPs each holds some VIPs by default.
func (v *view) loadBalancer(plan *provision.Plan) error {
	lb := &lbView{}
	fronts := provision.Frontends()
	checks := httpChecks()
	for idx, vip := range plan.VIPs {
		if !slices.Contains(vip.Holders, v.Node.Name) {
			continue
		}
		for _, svc := range vip.Services {
			fe, ok := fronts[svc]
			if !ok {
				return fmt.Errorf("vip %s: service %s has no frontend ports", vip.Name, svc)
			}
			for _, port := range fe.Ports {
				l := listener{Name: fmt.Sprintf("%s-%s-%d", vip.Name, svc, port), Bind: vip.Address, Port: port,
					Check: checks[svc], MySQL: svc == "galera", Long: svc == "galera" || svc == "rabbitmq-server"}
				if port == 443 {
					l.Check = ""
				}
				if svc == "horizon" && port == 80 {
					l.Check = "/dashboard/"
				}
				for i, name := range vip.Backends {
					bn, ok := plan.Node(name)
					if !ok {
						return fmt.Errorf("vip %s: backend %s: %w", vip.Name, name, ErrUnknownNode)
					}
					a, ok := bn.AddressOn(vip.BackendNetwork)
					if !ok {
						return fmt.Errorf("vip %s: backend %s has no address on %s", vip.Name, name, vip.BackendNetwork)
					}
					// Galera: one writer at a time avoids certification
					// conflicts; the others stand by.
					l.Backends = append(l.Backends, backend{Name: name, Addr: a.Addr(), Port: port, Backup: svc == "galera" && i > 0})
				}
				lb.Listeners = append(lb.Listeners, l)
			}
		}
		inst, err := vrrpFor(plan, vip, idx, v.Node)
		if err != nil {
			return err
		}
		lb.Instances = append(lb.Instances, inst)
	}
	v.LB = lb
	v.Sysctl = append(v.Sysctl, kv{"net.ipv4.ip_nonlocal_bind", "1"})
	v.secretFile("/etc/haproxy/haproxy.cfg", "haproxy.cfg.tmpl", "root:haproxy", 0o640)
	v.secretFile("/etc/keepalived/keepalived.conf", "keepalived.conf.tmpl", "root:root", 0o600)
	v.file("/etc/keepalived/check_haproxy.sh", "check_haproxy.sh.tmpl", 0o755)
	v.Packages = append(v.Packages, "haproxy", "keepalived")
	return nil
}

// vrrpFor is the node's VRRP instance for one VIP.
func vrrpFor(plan *provision.Plan, vip *provision.VIP, idx int, n *provision.NodePlan) (vrrpInstance, error) {
	holders := append([]string(nil), vip.Holders...)
	sort.Strings(holders)
	pos := slices.Index(holders, n.Name)
	rank := ((pos-idx)%len(holders) + len(holders)) % len(holders)
	prio := max(firstPriority-prioritySpread*rank, 1)
	var ifname string
	var src netip.Prefix
	for _, i := range n.Interfaces {
		if i.Network == vip.Network && i.Address.IsValid() {
			ifname, src = i.Name, i.Address
		}
	}
	if ifname == "" {
		return vrrpInstance{}, fmt.Errorf("vip %s: holder %s has no interface on %s", vip.Name, n.Name, vip.Network)
	}
	inst := vrrpInstance{Name: vip.Name, Interface: ifname, RouterID: firstRouterID + idx, Priority: prio,
		Src: src.Addr(), VIP: netip.PrefixFrom(vip.Address, src.Bits())}
	for _, h := range holders {
		if h == n.Name {
			continue
		}
		hn, ok := plan.Node(h)
		if !ok {
			return vrrpInstance{}, fmt.Errorf("vip %s: holder %s: %w", vip.Name, h, ErrUnknownNode)
		}
		if a, ok := hn.AddressOn(vip.Network); ok {
			inst.Peers = append(inst.Peers, a.Addr())
		}
	}
	return inst, nil
}
