package provision

import (
	"slices"
	"sort"
)

// serviceInfo is what the planner knows of a service a role may run: the
// network purposes it cannot work without, and its rollout tier.
type serviceInfo struct {
	needs []string
	tier  int
}

// Rollout tiers. A node's tier is the highest of its services' (a compute
// node also runs the Open vSwitch agent of the network tier), except that a
// Galera node is always a controller, so that the first controller
// bootstraps the cluster before the others join it.
const (
	tierAppliance = iota
	tierBalancer
	tierFirstController
	tierController
	tierInfra
	tierCompute
	tierOther
)

var tierNames = [...]string{
	tierAppliance:       "appliance",
	tierBalancer:        "load balancers",
	tierFirstController: "first controller",
	tierController:      "controllers",
	tierInfra:           "network and storage",
	tierCompute:         "compute",
	tierOther:           "other",
}

// services returns the built-in service catalog: the services that the
// role profiles know how to install.
func services() map[string]serviceInfo {
	ctl := serviceInfo{tier: tierController}
	// memcached also serves the Swift proxies: it does not make a node a
	// controller.
	infra := serviceInfo{tier: tierInfra}
	adm := serviceInfo{tier: tierOther}
	return map[string]serviceInfo{
		// admin01
		"ntpd": adm, "named": adm, "openvpn": {needs: []string{PurposeInternet}, tier: tierOther},
		"zabbix-server": adm, "logstash": adm, "puppetmaster": adm,
		// load balancers
		"haproxy": {tier: tierBalancer}, "keepalived": {tier: tierBalancer},
		// controllers
		"galera": ctl, "rabbitmq-server": ctl, "keystone": ctl,
		"glance-api": ctl, "glance-registry": ctl, "nova-api": ctl, "nova-scheduler": ctl,
		"nova-conductor": ctl, "nova-consoleauth": ctl, "nova-novncproxy": ctl, "memcached": infra,
		"cinder-api": ctl, "cinder-scheduler": ctl, "neutron-server": ctl, "horizon": ctl,
		// network nodes
		"neutron-l3-agent":          {needs: []string{PurposeTunnel, PurposeInternet}, tier: tierInfra},
		"neutron-dhcp-agent":        infra,
		"neutron-metadata-agent":    infra,
		"neutron-openvswitch-agent": {needs: []string{PurposeTunnel}, tier: tierInfra},
		// storage
		"cinder-volume":   {needs: []string{PurposeISCSI}, tier: tierInfra},
		"swift-proxy":     {needs: []string{PurposeSwift}, tier: tierInfra},
		"swift-account":   {needs: []string{PurposeSwift, PurposeSwiftRepl}, tier: tierInfra},
		"swift-container": {needs: []string{PurposeSwift, PurposeSwiftRepl}, tier: tierInfra},
		"swift-object":    {needs: []string{PurposeSwift, PurposeSwiftRepl}, tier: tierInfra},
		// compute
		"nova-compute": {needs: []string{PurposeTunnel}, tier: tierCompute},
	}
}

// purposes lists the valid network purposes.
func purposes() []string {
	return []string{PurposeDeviceMgmt, PurposeInternet, PurposeManagement, PurposeTunnel,
		PurposeISCSI, PurposeSwift, PurposeSwiftRepl}
}

// quorumServices are clustered services that need a majority to work.
func quorumServices() []string { return []string{"galera", "rabbitmq-server"} }

// nodeTier returns the rollout tier of a node.
func nodeTier(n *NodePlan, catalog map[string]serviceInfo) int {
	if n.Appliance {
		return tierAppliance
	}
	if n.HasService("galera") {
		return tierController
	}
	t := -1
	for _, s := range n.Services {
		if info, ok := catalog[s]; ok && info.tier != tierOther && info.tier > t {
			t = info.tier
		}
	}
	if t < 0 {
		return tierOther
	}
	return t
}

// stages orders nodes for a rollout: the appliance, load balancers, the
// first controller (it bootstraps Galera and RabbitMQ), the other
// controllers, network and storage, compute, then the rest. Empty stages
// are dropped; each node's Stage is set to its stage's index.
func stages(nodes []*NodePlan, catalog map[string]serviceInfo) []RolloutStage {
	byTier := make([][]*NodePlan, len(tierNames))
	for _, n := range nodes {
		t := nodeTier(n, catalog)
		byTier[t] = append(byTier[t], n)
	}
	// The first controller, by name, bootstraps the clusters.
	if ctl := byTier[tierController]; len(ctl) > 0 {
		sort.SliceStable(ctl, func(i, j int) bool { return ctl[i].Name < ctl[j].Name })
		byTier[tierFirstController] = ctl[:1]
		byTier[tierController] = slices.Clone(ctl[1:])
	}
	var out []RolloutStage
	for t, ns := range byTier {
		if len(ns) == 0 {
			continue
		}
		st := RolloutStage{Stage: len(out), Name: tierNames[t]}
		for _, n := range ns {
			n.Stage = st.Stage
			st.Nodes = append(st.Nodes, n.Name)
		}
		out = append(out, st)
	}
	return out
}

// Frontend is a service a VIP load-balances: its TCP ports and the
// service that must run on the backends behind it.
type Frontend struct {
	Ports   []int
	Backend string
}

// Frontends returns the services a VIP can carry (SITE.md's VIP list and
// the paper's section 4.2.3), by name.
func Frontends() map[string]Frontend {
	return map[string]Frontend{
		"keystone":        {[]int{5000, 35357}, "keystone"},
		"glance-api":      {[]int{9292}, "glance-api"},
		"glance-registry": {[]int{9191}, "glance-registry"},
		"nova-api":        {[]int{8774}, "nova-api"},
		"nova-metadata":   {[]int{8775}, "nova-api"},
		"nova-novncproxy": {[]int{6080}, "nova-novncproxy"},
		"cinder-api":      {[]int{8776}, "cinder-api"},
		"neutron-server":  {[]int{9696}, "neutron-server"},
		"horizon":         {[]int{80, 443}, "horizon"},
		"galera":          {[]int{3306}, "galera"},
		"rabbitmq-server": {[]int{5672}, "rabbitmq-server"},
		"swift-proxy":     {[]int{8080}, "swift-proxy"},
	}
}
