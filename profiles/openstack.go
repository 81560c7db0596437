package profiles

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/provision/provision/provision"
)

// setting is one key of an OpenStack ini file, set by apply.sh with
// openstack-config (RDO's openstack-utils) only when it differs.
type setting struct {
	File, Section, Key, Value string
}

type netView struct {
	Tunnel   netip.Addr
	External string // interface on the Internet network, put in br-ex
	// ExtAddr, ExtGateway and ExtMTU move from the external interface to
	// br-ex (ExtGateway only when it is the node's default route).
	ExtAddr    netip.Prefix
	ExtGateway netip.Addr
	ExtMTU     int
	// Active is the network node that runs the L3 and metadata agents;
	// the others keep them installed, configured and stopped (Icehouse
	// has no L3 HA: failover starts them on a standby with the same
	// agent host name, so routers move with it).
	Active  bool
	L3Host  string
	Standby []string
}

type computeView struct {
	Tunnel    netip.Addr
	ISCSI     netip.Addr
	Initiator string
}

type blockView struct {
	ISCSI netip.Addr
	VG    string
}

// osb collects settings.
type osb struct {
	v         *view
	out       []setting
	memcached []peer // the controllers' memcached
	novaDone  bool
}

func (b *osb) set(file, section string, kvs ...string) {
	for i := 0; i+1 < len(kvs); i += 2 {
		b.out = append(b.out, setting{file, section, kvs[i], kvs[i+1]})
	}
}

// authtoken points a service at Keystone through the internal VIP.
func (b *osb) authtoken(file, user string) {
	vip := b.v.VIP.Internal.String()
	b.set(file, "keystone_authtoken",
		"auth_uri", "http://"+vip+":5000/v2.0", "auth_host", vip, "auth_port", "35357", "auth_protocol", "http",
		"admin_tenant_name", "service", "admin_user", user, "admin_password", b.v.S["svc-"+user])
}

func (b *osb) rabbit(file, backend string) {
	b.set(file, "DEFAULT", "rpc_backend", backend, "rabbit_host", b.v.VIP.Internal.String(),
		"rabbit_userid", "openstack", "rabbit_password", b.v.S["rabbit-openstack"])
}

func (b *osb) db(file, name string) {
	b.set(file, "database", "connection",
		fmt.Sprintf("mysql://%s:%s@%s/%s", name, b.v.S["db-"+name], b.v.VIP.Internal, name))
}

// openstack works out the OpenStack settings and files of a CentOS node
// from its services.
func (v *view) openstack(plan *provision.Plan) {
	b := &osb{v: v}
	if v.Ctl != nil {
		b.memcached = v.Ctl.Memcached
	}
	has := v.Node.HasService
	b.identityImage()
	if has("nova-api") {
		b.novaAPI()
	}
	b.cinder()
	b.neutron(plan)
	if has("neutron-l3-agent") || has("neutron-dhcp-agent") || has("neutron-metadata-agent") {
		v.network(plan, b)
	}
	if has("nova-compute") {
		v.compute(plan, b)
	}
	if has("cinder-volume") {
		v.blockStorage(plan, b)
	}
	if has("swift-proxy") || has("swift-object") {
		v.swift(plan)
	}
	v.OS = b.out
	if len(b.out) > 0 {
		v.secretFile("/etc/provision/openstack.settings", "openstack.settings.tmpl", "root:root", 0o600)
	}
}

// identityImage is Keystone and Glance, each listening on the node's own
// address so that HAProxy may hold the VIP's port on the same node.
func (b *osb) identityImage() {
	v, me, vip := b.v, b.v.Mgmt.String(), b.v.VIP.Internal.String()
	if v.Node.HasService("keystone") {
		f := "/etc/keystone/keystone.conf"
		b.set(f, "DEFAULT", "admin_token", v.S["keystone-admin-token"], "bind_host", me)
		b.set(f, "token", "provider", "keystone.token.providers.uuid.Provider", "driver", "keystone.token.backends.memcache.Token")
		b.set(f, "memcache", "servers", peersPort(b.memcached, 11211))
		b.db(f, "keystone")
	}
	if v.Node.HasService("glance-api") || v.Node.HasService("glance-registry") {
		for _, f := range []string{"/etc/glance/glance-api.conf", "/etc/glance/glance-registry.conf"} {
			b.db(f, "glance")
			b.authtoken(f, "glance")
			b.set(f, "paste_deploy", "flavor", "keystone")
			b.set(f, "DEFAULT", "bind_host", me)
		}
		b.set("/etc/glance/glance-api.conf", "DEFAULT", "registry_host", vip)
	}
}

// novaCommon is what nova.conf needs on controllers and compute nodes
// alike. It is set once per node.
func (b *osb) novaCommon() {
	if b.novaDone {
		return
	}
	b.novaDone = true
	v, me, vip := b.v, b.v.Mgmt.String(), b.v.VIP.Internal.String()
	f := "/etc/nova/nova.conf"
	b.rabbit(f, "rabbit")
	b.set(f, "DEFAULT", "my_ip", me, "auth_strategy", "keystone", "glance_host", vip,
		"network_api_class", "nova.network.neutronv2.api.API", "neutron_url", "http://"+vip+":9696",
		"neutron_auth_strategy", "keystone", "neutron_admin_tenant_name", "service",
		"neutron_admin_username", "neutron", "neutron_admin_password", v.S["svc-neutron"],
		"neutron_admin_auth_url", "http://"+vip+":35357/v2.0",
		"linuxnet_interface_driver", "nova.network.linux_net.LinuxOVSInterfaceDriver",
		"firewall_driver", "nova.virt.firewall.NoopFirewallDriver", "security_group_api", "neutron")
	b.authtoken(f, "nova")
}

func (b *osb) novaAPI() {
	me := b.v.Mgmt.String()
	f := "/etc/nova/nova.conf"
	b.novaCommon()
	b.db(f, "nova")
	b.set(f, "DEFAULT", "osapi_compute_listen", me, "metadata_listen", me, "novncproxy_host", me,
		"vncserver_listen", me, "vncserver_proxyclient_address", me,
		"service_neutron_metadata_proxy", "True", "neutron_metadata_proxy_shared_secret", b.v.S["metadata-secret"],
		"memcached_servers", peersPort(b.memcached, 11211))
}

func (b *osb) cinder() {
	has := b.v.Node.HasService
	if !has("cinder-api") && !has("cinder-volume") {
		return
	}
	f := "/etc/cinder/cinder.conf"
	b.db(f, "cinder")
	b.rabbit(f, "cinder.openstack.common.rpc.impl_kombu")
	b.authtoken(f, "cinder")
	b.set(f, "DEFAULT", "auth_strategy", "keystone", "my_ip", b.v.Mgmt.String(), "glance_host", b.v.VIP.Internal.String())
	if has("cinder-api") {
		b.set(f, "DEFAULT", "osapi_volume_listen", b.v.Mgmt.String())
	}
}

// neutron is neutron.conf and the ML2 plugin: GRE tunnels from the
// node's tunnel address (VLAN 104).
func (b *osb) neutron(plan *provision.Plan) {
	has := b.v.Node.HasService
	if !has("neutron-server") && !has("neutron-openvswitch-agent") && !has("neutron-l3-agent") {
		return
	}
	f, m := "/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"
	b.rabbit(f, "neutron.openstack.common.rpc.impl_kombu")
	b.authtoken(f, "neutron")
	b.set(f, "DEFAULT", "auth_strategy", "keystone", "core_plugin", "ml2", "service_plugins", "router",
		"allow_overlapping_ips", "True")
	b.set(m, "ml2", "type_drivers", "gre", "tenant_network_types", "gre", "mechanism_drivers", "openvswitch")
	b.set(m, "ml2_type_gre", "tunnel_id_ranges", "1:1000")
	b.set(m, "securitygroup", "enable_security_group", "True",
		"firewall_driver", "neutron.agent.linux.iptables_firewall.OVSHybridIptablesFirewallDriver")
	if has("neutron-server") {
		b.db(f, "neutron")
		b.set(f, "DEFAULT", "bind_host", b.v.Mgmt.String(),
			// Port notifications need Nova's service tenant id, which only
			// exists once Keystone runs: left off, as Icehouse allows.
			"notify_nova_on_port_status_changes", "False", "notify_nova_on_port_data_changes", "False")
	}
	if t, _, ok := addressOnPurpose(plan, b.v.Node, provision.PurposeTunnel); ok && has("neutron-openvswitch-agent") {
		b.set(m, "ovs", "local_ip", t.String(), "tunnel_type", "gre", "enable_tunneling", "True")
	}
}

func (v *view) network(plan *provision.Plan, b *osb) {
	vip := v.VIP.Internal.String()
	nv := &netView{L3Host: "l3-" + plan.Site.Name}
	nv.Tunnel, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeTunnel)
	_, nv.External, _ = addressOnPurpose(plan, v.Node, provision.PurposeInternet)
	if ext, ok := v.Node.Interface(nv.External); ok && nv.External != "" {
		nv.ExtAddr, nv.ExtMTU = ext.Address, ext.MTU
		if v.Node.GatewayNet == ext.Network {
			nv.ExtGateway = v.Node.Gateway
		}
		v.file("/etc/sysconfig/network-scripts/ifcfg-br-ex", "ifcfg-br-ex.tmpl", 0o644)
		v.file("/etc/sysconfig/network-scripts/ifcfg-"+nv.External, "ifcfg-ovsport.tmpl", 0o644)
	}
	l3 := sortedNodes(plan, "neutron-l3-agent")
	nv.Active = len(l3) > 0 && l3[0].Name == v.Node.Name
	for _, x := range l3[min(1, len(l3)):] {
		nv.Standby = append(nv.Standby, x.Name)
	}
	v.Net = nv
	drv := "neutron.agent.linux.interface.OVSInterfaceDriver"
	b.set("/etc/neutron/l3_agent.ini", "DEFAULT", "interface_driver", drv, "use_namespaces", "True",
		"external_network_bridge", "br-ex", "host", nv.L3Host)
	b.set("/etc/neutron/dhcp_agent.ini", "DEFAULT", "interface_driver", drv,
		"dhcp_driver", "neutron.agent.linux.dhcp.Dnsmasq", "use_namespaces", "True")
	b.set("/etc/neutron/metadata_agent.ini", "DEFAULT", "auth_url", "http://"+vip+":5000/v2.0",
		"auth_region", "regionOne", "admin_tenant_name", "service", "admin_user", "neutron",
		"admin_password", v.S["svc-neutron"], "nova_metadata_ip", vip,
		"metadata_proxy_shared_secret", v.S["metadata-secret"], "host", nv.L3Host)
	v.Sysctl = append(v.Sysctl, kv{"net.ipv4.ip_forward", "1"},
		kv{"net.ipv4.conf.all.rp_filter", "0"}, kv{"net.ipv4.conf.default.rp_filter", "0"})
	v.Packages = append(v.Packages, "openstack-neutron", "openstack-neutron-ml2", "openstack-neutron-openvswitch")
}

func (v *view) compute(plan *provision.Plan, b *osb) {
	cv := &computeView{Initiator: initiatorName(v.Site.Domain, v.Node.Name)}
	cv.Tunnel, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeTunnel)
	cv.ISCSI, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeISCSI)
	v.Comp = cv
	b.novaCommon()
	f := "/etc/nova/nova.conf"
	me := v.Mgmt.String()
	b.set(f, "DEFAULT", "vnc_enabled", "True", "vncserver_listen", "0.0.0.0",
		"vncserver_proxyclient_address", me,
		"novncproxy_base_url", "http://"+v.VIP.Public.String()+":6080/vnc_auto.html")
	b.set(f, "libvirt", "virt_type", "kvm")
	v.file("/etc/iscsi/initiatorname.iscsi", "initiatorname.iscsi.tmpl", 0o644)
	v.Sysctl = append(v.Sysctl, kv{"net.ipv4.conf.all.rp_filter", "0"}, kv{"net.ipv4.conf.default.rp_filter", "0"},
		kv{"net.bridge.bridge-nf-call-iptables", "1"}, kv{"net.bridge.bridge-nf-call-ip6tables", "1"})
	v.Packages = append(v.Packages, "openstack-nova-compute", "libvirt", "qemu-kvm", "iscsi-initiator-utils",
		"openstack-neutron-ml2", "openstack-neutron-openvswitch")
}

func (v *view) blockStorage(plan *provision.Plan, b *osb) {
	bv := &blockView{VG: "cinder-volumes"}
	for _, vol := range v.Node.Storage {
		if vol.Use == provision.UseLVM && vol.VG != "" {
			bv.VG = vol.VG
		}
	}
	bv.ISCSI, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeISCSI)
	v.Block = bv
	b.set("/etc/cinder/cinder.conf", "DEFAULT", "volume_group", bv.VG, "iscsi_helper", "tgtadm",
		"iscsi_ip_address", bv.ISCSI.String(), "volume_driver", "cinder.volume.drivers.lvm.LVMISCSIDriver")
	v.file("/etc/tgt/conf.d/cinder.conf", "tgt-cinder.conf.tmpl", 0o644)
	v.Packages = append(v.Packages, "openstack-cinder", "scsi-target-utils", "lvm2")
}

// initiatorName is an iSCSI qualified name under the site's domain
// (RFC 3720 3.2.6.3.1): iqn.2014-01.com.example.prod:compute01.
func initiatorName(domain, node string) string {
	parts := strings.Split(domain, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "iqn.2014-01." + strings.Join(parts, ".") + ":" + node
}

func peersPort(ps []peer, port int) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s:%d", p.Addr, port))
	}
	return strings.Join(s, ",")
}
