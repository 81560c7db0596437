package profiles

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/provision/provision/provision"
)

// dnsView is the admin node's BIND: one forward zone for the site's
// domain and a reverse zone per /24 of every address the site uses.
type dnsView struct {
	Zones  []zone
	Listen []netip.Addr
	Allow  []string
}

type zone struct {
	Name, File string
}

type vpnView struct {
	Listen  netip.Addr
	Pool    netip.Prefix
	Routes  []netip.Prefix
	DNS     netip.Addr
	Dir     string
	Clients string
}

// vpnPort is OpenVPN's IANA port.
const vpnPort = 1194

// bindDir holds the zone files on the appliance host (Debian).
const bindDir = "/etc/bind/provision"

func (v *view) admin(plan *provision.Plan, in Inputs) error {
	has := v.Node.HasService
	v.Packages = append(v.Packages, "zabbix-agent")
	if has("ntpd") {
		v.file("/etc/ntpsec/ntp.conf", "ntpsec.conf.tmpl", 0o644)
		v.Packages = append(v.Packages, "ntpsec")
	}
	if has("named") {
		v.dns(plan, in.Serial)
	}
	if has("openvpn") {
		if in.VPN == nil {
			return ErrNoVPN
		}
		if err := v.vpn(plan, in.VPN); err != nil {
			return err
		}
	}
	if has("zabbix-server") {
		v.secretFile("/etc/zabbix/zabbix_server.conf", "zabbix_server.conf.tmpl", "root:zabbix", 0o640)
		v.secretFile("/etc/provision/zabbix-db.sql", "zabbix-db.sql.tmpl", "root:root", 0o600)
		v.Packages = append(v.Packages, "mariadb-server", "zabbix-server-mysql")
	}
	if has("logstash") {
		v.file("/etc/logstash/conf.d/provision.conf", "logstash.conf.tmpl", 0o644)
	}
	return nil
}

func (v *view) dns(plan *provision.Plan, serial uint32) {
	d := &dnsView{Listen: []netip.Addr{netip.MustParseAddr("127.0.0.1"), v.Mgmt}}
	for _, n := range plan.Networks {
		if n.Purpose != provision.PurposeInternet {
			d.Allow = append(d.Allow, n.Prefix.String())
		}
	}
	d.Allow = append(d.Allow, vpnPool(plan).String())
	dom := plan.Site.Domain
	rec := records(plan)
	var fwd strings.Builder
	soa(&fwd, dom, v.Node.FQDN, serial)
	names := make([]string, 0, len(rec))
	for name := range rec {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&fwd, "%-24s IN A     %s\n", name, rec[name])
	}
	d.Zones = append(d.Zones, zone{Name: dom, File: bindDir + "/db." + dom})
	v.extra = append(v.extra, File{Path: bindDir + "/db." + dom, Mode: 0o644, Owner: "root:bind", Data: []byte(fwd.String())})

	// Reverse zones, one per /24, each PTR to the address's first name
	// in name order (the node's own name sorts before NAME-NET).
	rev := map[string][]string{}
	ptr := map[netip.Addr]string{}
	for _, name := range names {
		a := rec[name]
		if _, ok := ptr[a]; !ok {
			ptr[a] = name
		}
	}
	addrs := make([]netip.Addr, 0, len(ptr))
	for a := range ptr {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	var zones []string
	for _, a := range addrs {
		b := a.As4()
		zn := fmt.Sprintf("%d.%d.%d.in-addr.arpa", b[2], b[1], b[0])
		if _, ok := rev[zn]; !ok {
			zones = append(zones, zn)
		}
		rev[zn] = append(rev[zn], fmt.Sprintf("%-4d IN PTR   %s.%s.", b[3], ptr[a], dom))
	}
	for _, zn := range zones {
		var z strings.Builder
		soa(&z, zn, v.Node.FQDN, serial)
		for _, l := range rev[zn] {
			z.WriteString(l + "\n")
		}
		file := bindDir + "/db." + zn
		d.Zones = append(d.Zones, zone{Name: zn, File: file})
		v.extra = append(v.extra, File{Path: file, Mode: 0o644, Owner: "root:bind", Data: []byte(z.String())})
	}
	v.DNS = d
	v.file("/etc/bind/named.conf", "named.conf.tmpl", 0o644)
	v.Packages = append(v.Packages, "bind9", "bind9-utils")
}

// soa writes a zone's $ORIGIN, SOA and NS records: the admin node is the
// only name server.
func soa(b *strings.Builder, origin, ns string, serial uint32) {
	fmt.Fprintf(b, "; zone %s, rendered by provision from the site plan: edit the site, not this file.\n", origin)
	fmt.Fprintf(b, "$ORIGIN %s.\n$TTL 300\n", origin)
	fmt.Fprintf(b, "@ IN SOA %s. hostmaster.%s. ( %d 3600 600 1209600 300 )\n", ns, ns, serial)
	fmt.Fprintf(b, "@ IN NS %s.\n", ns)
}

// records names every address of the site, relative to its domain: a
// node's management address is its name, its other interfaces NAME-NET,
// its iDRAC NAME-bmc; switches by name; VIPs NAME-vip.
func records(plan *provision.Plan) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for _, n := range plan.Nodes {
		for _, i := range n.Interfaces {
			if i.Network == "" || !i.Address.IsValid() || !i.Address.Addr().Is4() {
				continue
			}
			name := n.Name + "-" + i.Network
			if i.Network == plan.Site.Management {
				name = n.Name
			}
			out[name] = i.Address.Addr()
		}
		if n.IDRAC.Address.IsValid() {
			out[n.Name+"-bmc"] = n.IDRAC.Address
		}
	}
	for _, s := range plan.Switches {
		out[s.Name] = s.Address
	}
	for _, vip := range plan.VIPs {
		out[vip.Name+"-vip"] = vip.Address
	}
	return out
}

// vpnPool is the OpenVPN clients' network: 10.8.X.0/24 with the site's x.
func vpnPool(plan *provision.Plan) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 8, byte(plan.Site.X), 0}), 24)
}

func (v *view) vpn(plan *provision.Plan, pki *VPNServer) error {
	listen, _, ok := addressOnPurpose(plan, v.Node, provision.PurposeInternet)
	if !ok {
		return fmt.Errorf("openvpn: node has no address on an internet network")
	}
	vv := &vpnView{Listen: listen, Pool: vpnPool(plan), DNS: v.Mgmt, Dir: "/etc/openvpn/server/provision"}
	for _, n := range plan.Networks {
		if n.Purpose == provision.PurposeManagement || n.Purpose == provision.PurposeDeviceMgmt {
			vv.Routes = append(vv.Routes, n.Prefix)
		}
	}
	v.VPN = vv
	v.file("/etc/openvpn/server/provision.conf", "openvpn-server.conf.tmpl", 0o644)
	v.extra = append(v.extra,
		File{Path: vv.Dir + "/ca.crt", Mode: 0o644, Owner: "root:root", Data: pki.CACert},
		File{Path: vv.Dir + "/server.crt", Mode: 0o644, Owner: "root:root", Data: pki.Cert},
		File{Path: vv.Dir + "/server.key", Mode: 0o600, Owner: "root:root", Secret: true, Data: []byte(pki.Key.Reveal())},
		File{Path: vv.Dir + "/tls-crypt.key", Mode: 0o600, Owner: "root:root", Secret: true, Data: []byte(pki.TLSCrypt.Reveal())})
	v.Packages = append(v.Packages, "openvpn")
	return nil
}

// mask is a prefix's netmask in dotted form (OpenVPN's server and route).
func mask(p netip.Prefix) string {
	m := ^uint32(0) << (32 - p.Bits())
	return strconv.Itoa(int(m>>24)) + "." + strconv.Itoa(int(m>>16&255)) + "." + strconv.Itoa(int(m>>8&255)) + "." + strconv.Itoa(int(m&255))
}
