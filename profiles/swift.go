package profiles

import (
	"math/bits"
	"net/netip"
	"sort"

	"github.com/provision/provision/provision"
)

// Swift ring parameters: 3 replicas, partitions moved at most once an
// hour, about 100 partitions per disk rounded up to a power of two.
const (
	swiftReplicas    = 3
	swiftMinPartHour = 1
	// ringSeed makes every node's rebalance identical, so each Swift node
	// builds the same rings from the same commands and none are copied.
	ringSeed = 20140417
)

type swiftView struct {
	Proxy, Storage bool
	SwiftAddr      netip.Addr // VLAN 106
	ReplAddr       netip.Addr // VLAN 107
	Memcached      []peer
	Labels         []string // this node's disks under /srv/node
	PartPower      int
	Replicas       int
	MinPartHours   int
	Seed           int
	Rings          []ring
}

type ring struct {
	Name string
	Port int
	Devs []ringDev
}

type ringDev struct {
	Region, Zone int
	IP, ReplIP   netip.Addr
	Device       string
	Weight       int64 // GB
}

func (v *view) swift(plan *provision.Plan) {
	sv := &swiftView{Proxy: v.Node.HasService("swift-proxy"), Storage: v.Node.HasService("swift-object"),
		Replicas: swiftReplicas, MinPartHours: swiftMinPartHour, Seed: ringSeed}
	sv.SwiftAddr, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeSwift)
	sv.ReplAddr, _, _ = addressOnPurpose(plan, v.Node, provision.PurposeSwiftRepl)
	sv.Memcached = addrsOf(plan, "swift-proxy", plan.Site.Management)
	for _, vol := range v.Node.Storage {
		if vol.Use == provision.UseSwift {
			sv.Labels = append(sv.Labels, vol.Labels...)
		}
	}
	devs := ringDevices(plan)
	sv.PartPower = partPower(len(devs))
	for _, r := range []struct {
		name string
		port int
	}{{"account", 6002}, {"container", 6001}, {"object", 6000}} {
		sv.Rings = append(sv.Rings, ring{Name: r.name, Port: r.port, Devs: devs})
	}
	v.Swift = sv
	v.secretFile("/etc/swift/swift.conf", "swift.conf.tmpl", "root:swift", 0o640)
	v.file("/etc/swift/rings.sh", "rings.sh.tmpl", 0o755)
	pk := []string{"openstack-swift", "python-swiftclient"}
	if sv.Proxy {
		v.secretFile("/etc/swift/proxy-server.conf", "proxy-server.conf.tmpl", "root:swift", 0o640)
		v.file("/etc/sysconfig/memcached", "memcached.tmpl", 0o644)
		pk = append(pk, "openstack-swift-proxy", "memcached", "python-keystoneclient")
	}
	if sv.Storage {
		for _, s := range []string{"account", "container", "object"} {
			v.file("/etc/swift/"+s+"-server.conf", s+"-server.conf.tmpl", 0o644)
		}
		v.file("/etc/rsyncd.conf", "rsyncd.conf.tmpl", 0o644)
		pk = append(pk, "openstack-swift-account", "openstack-swift-container", "openstack-swift-object",
			"rsync", "xinetd", "xfsprogs")
		v.NoFile = 262144
	}
	v.Packages = append(v.Packages, pk...)
}

// ringDevices lists every Swift storage disk: zones by rack (racks in
// name order are zones 1, 2, ...), one device per labelled disk, weight
// its size in GB.
func ringDevices(plan *provision.Plan) []ringDev {
	nodes := sortedNodes(plan, "swift-object")
	var racks []string
	zone := map[string]int{}
	for _, n := range nodes {
		if _, ok := zone[n.Rack]; !ok {
			racks = append(racks, n.Rack)
			zone[n.Rack] = 0
		}
	}
	sort.Strings(racks)
	for i, r := range racks {
		zone[r] = i + 1
	}
	var out []ringDev
	for _, n := range nodes {
		ip, _, _ := addressOnPurpose(plan, n, provision.PurposeSwift)
		repl, _, ok := addressOnPurpose(plan, n, provision.PurposeSwiftRepl)
		if !ok {
			repl = ip
		}
		size := map[int]int64{}
		for _, d := range n.Hardware.Disks {
			size[d.Slot] = d.Bytes
		}
		for _, vol := range n.Storage {
			if vol.Use != provision.UseSwift {
				continue
			}
			for i, l := range vol.Labels {
				w := int64(100)
				if i < len(vol.Members) && size[vol.Members[i]] > 0 {
					w = size[vol.Members[i]] / 1e9
				}
				out = append(out, ringDev{Region: 1, Zone: zone[n.Rack], IP: ip, ReplIP: repl, Device: l, Weight: w})
			}
		}
	}
	return out
}

// partPower is the smallest power of two giving each device at least 100
// partitions, at least 2^10.
func partPower(devs int) int {
	p := bits.Len(uint(devs*100 - 1))
	return max(p, 10)
}
