package provision

import (
	"net"
	"net/netip"
)

// Plan is the resolved site: every node with its hardware, disks,
// interfaces, addresses and settings worked out. It is immutable once built;
// servers look nodes up in it and never change it. Its JSON form (plan
// --json) is documented in docs/plan-json.md and kept stable.
type Plan struct {
	Site     SitePlan       `json:"site"`
	Networks []*Network     `json:"networks"`
	Nodes    []*NodePlan    `json:"nodes"`
	VIPs     []*VIP         `json:"vips"`
	Switches []Switch       `json:"switches,omitempty"`
	Stages   []RolloutStage `json:"rollout"`

	byName map[string]*NodePlan
	byMAC  map[string]*NodePlan
	netBy  map[string]*Network
}

// SitePlan is the site-wide part of the plan.
type SitePlan struct {
	Name      string `json:"name"`
	Domain    string `json:"domain"`
	Timezone  string `json:"timezone"`
	X         int    `json:"x"`
	File      string `json:"file"`
	Appliance string `json:"appliance"`
	// ApplianceAddr is the appliance's address on the management network:
	// DHCP server, TFTP and HTTP server, DNS and NTP of every node.
	ApplianceAddr netip.Addr `json:"appliance_addr"`
	ApplianceURL  string     `json:"appliance_url"`
	// Management is the name of the network nodes PXE-boot and are
	// managed on.
	Management string `json:"management_network"`
}

// Network is a resolved VLAN.
type Network struct {
	Name    string       `json:"name"`
	VLAN    int          `json:"vlan"`
	Prefix  netip.Prefix `json:"cidr"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	Router  string       `json:"router,omitempty"`
	MTU     int          `json:"mtu"`
	Purpose string       `json:"purpose"`
	Default bool         `json:"default_route,omitempty"`
}

// Network purposes.
const (
	PurposeDeviceMgmt = "device-management"
	PurposeInternet   = "internet"
	PurposeManagement = "management"
	PurposeTunnel     = "tunnel"
	PurposeISCSI      = "iscsi"
	PurposeSwift      = "swift-storage"
	PurposeSwiftRepl  = "swift-replication"
)

// NodePlan is everything known about one node before it is installed.
type NodePlan struct {
	Name  string   `json:"name"`
	FQDN  string   `json:"fqdn"`
	Roles []string `json:"roles"`
	Rack  string   `json:"rack,omitempty"`
	Unit  int      `json:"unit,omitempty"`
	Host  int      `json:"host,omitempty"`
	// Appliance is true for the node the appliance runs on: never powered
	// or installed by a rollout.
	Appliance bool `json:"appliance,omitempty"`

	Hardware   HardwarePlan `json:"hardware"`
	Storage    []Volume     `json:"storage"`
	Interfaces []Interface  `json:"interfaces"`
	Routes     []Route      `json:"routes,omitempty"`
	// Gateway is the default route and the network it is on.
	Gateway    netip.Addr   `json:"gateway,omitzero"`
	GatewayNet string       `json:"gateway_network,omitempty"`
	DNS        []netip.Addr `json:"dns"`
	NTP        []netip.Addr `json:"ntp"`

	PXE   PXEPlan   `json:"pxe"`
	IDRAC IDRACPlan `json:"idrac"`

	BootMode   string   `json:"boot_mode"`
	Loader     string   `json:"loader"`
	RAIDMode   string   `json:"raid"`
	Image      string   `json:"image"`
	Console    string   `json:"console,omitempty"`
	Netboot    bool     `json:"netboot"`
	SELinux    string   `json:"selinux"`
	Firewall   bool     `json:"firewall"`
	Lang       string   `json:"lang"`
	Keyboard   string   `json:"keyboard"`
	KernelArgs []string `json:"kernel_args,omitempty"`

	Services []string `json:"services"`
	Packages []string `json:"packages,omitempty"`
	// VIPs names the VIPs this node holds (Keepalived) or backs (a backend).
	VIPs  []NodeVIP `json:"vips,omitempty"`
	Stage int       `json:"stage"`

	// Sources says where each setting came from, for plan --explain.
	Sources  map[string]Source `json:"-"`
	settings Settings
}

// HardwarePlan is the node's hardware model.
type HardwarePlan struct {
	Name   string `json:"name"`
	Model  string `json:"model"`
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	NICs   []NIC  `json:"nics"`
	Disks  []Disk `json:"disks"`
}

// NIC is a physical port.
type NIC struct {
	Name      string `json:"name"`
	Speed     string `json:"speed,omitempty"`
	RedfishID string `json:"redfish_id"`
	MAC       string `json:"mac,omitempty"` // lower-case aa:bb:..., when known
}

// Disk is a physical disk.
type Disk struct {
	Slot  int    `json:"slot"`
	Bytes int64  `json:"bytes"`
	Size  string `json:"size"`
	Kind  string `json:"kind"`
}

// Volume is what the installer lays out on a group of disks.
type Volume struct {
	Name    string `json:"name"`
	Level   string `json:"level"` // 0 1 5 6 10 jbod
	Members []int  `json:"members"`
	// Hardware is true when the PERC builds the set: the OS sees one
	// virtual disk.
	Hardware bool   `json:"hardware_raid"`
	Use      string `json:"use"` // os data ephemeral lvm swift
	Mount    string `json:"mount,omitempty"`
	FS       string `json:"fs,omitempty"`
	VG       string `json:"vg,omitempty"`
	// Labels of the Swift file systems, one per member disk.
	Labels []string `json:"labels,omitempty"`
	// Bytes is the usable size.
	Bytes int64 `json:"bytes"`
}

// Volume uses.
const (
	UseOS        = "os"
	UseData      = "data"
	UseEphemeral = "ephemeral"
	UseLVM       = "lvm"
	UseSwift     = "swift"
)

// Interface kinds.
const (
	KindEthernet = "ethernet"
	KindBond     = "bond"
	KindVLAN     = "vlan"
)

// Interface is one configured interface of a node: a NIC, a bond or a VLAN
// sub-interface. Slaves appear as ethernet interfaces with Master set.
type Interface struct {
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	MAC         string       `json:"mac,omitempty"`
	Master      string       `json:"master,omitempty"`
	Slaves      []string     `json:"slaves,omitempty"`
	BondMode    string       `json:"bond_mode,omitempty"`
	BondOptions string       `json:"bond_options,omitempty"`
	Parent      string       `json:"parent,omitempty"`
	VLAN        int          `json:"vlan,omitempty"`
	Tagged      bool         `json:"tagged,omitempty"`
	Network     string       `json:"network,omitempty"`
	Address     netip.Prefix `json:"address,omitzero"`
	MTU         int          `json:"mtu"`
}

// Route is a static route.
type Route struct {
	To        netip.Prefix `json:"to"`
	Via       netip.Addr   `json:"via"`
	Interface string       `json:"interface"`
}

// PXEPlan says how the node network-boots.
type PXEPlan struct {
	NIC       string       `json:"nic"`
	MAC       string       `json:"mac,omitempty"`
	Interface string       `json:"interface"` // the bond or NIC holding the address
	Address   netip.Addr   `json:"address"`
	Prefix    netip.Prefix `json:"prefix"`
}

// IDRACPlan is the node's BMC.
type IDRACPlan struct {
	Address  netip.Addr `json:"address,omitzero"`
	Port     int        `json:"port,omitempty"`
	Endpoint string     `json:"endpoint,omitempty"`
}

// NodeVIP is a VIP as seen from one node.
type NodeVIP struct {
	Name    string     `json:"name"`
	Address netip.Addr `json:"address"`
	As      string     `json:"as"` // holder | backend
}

// VIP is a resolved virtual IP.
type VIP struct {
	Name     string     `json:"name"`
	Address  netip.Addr `json:"address"`
	Network  string     `json:"network"`
	Services []string   `json:"services"`
	Backends []string   `json:"backends"`
	// BackendNetwork is the network HAProxy reaches the backends on.
	BackendNetwork string   `json:"backend_network"`
	Holders        []string `json:"holders"`
}

// Switch is a managed switch.
type Switch struct {
	Name    string     `json:"name"`
	Model   string     `json:"model,omitempty"`
	Address netip.Addr `json:"address"`
	Network string     `json:"network"`
}

// RolloutStage is one step of the rollout order: its nodes may install
// together once every earlier stage is done.
type RolloutStage struct {
	Stage int      `json:"stage"`
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
}

// Source says where a setting's value came from.
type Source struct {
	Level string `json:"level"` // built-in, site, hardware, role, node
	Name  string `json:"name,omitempty"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
}

// Node returns the node of that name.
func (p *Plan) Node(name string) (*NodePlan, bool) {
	n, ok := p.byName[name]
	return n, ok
}

// NodeByMAC returns the node owning a MAC the site file declares.
func (p *Plan) NodeByMAC(mac net.HardwareAddr) (*NodePlan, bool) {
	n, ok := p.byMAC[mac.String()]
	return n, ok
}

// Network returns the network of that name.
func (p *Plan) Network(name string) (*Network, bool) {
	n, ok := p.netBy[name]
	return n, ok
}

// ManagementNetwork returns the network nodes PXE-boot on.
func (p *Plan) ManagementNetwork() *Network {
	return p.netBy[p.Site.Management]
}

// Interface returns the node's interface of that name.
func (n *NodePlan) Interface(name string) (Interface, bool) {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i, true
		}
	}
	return Interface{}, false
}

// AddressOn returns the node's address on a network.
func (n *NodePlan) AddressOn(network string) (netip.Prefix, bool) {
	for _, i := range n.Interfaces {
		if i.Network == network && i.Address.IsValid() {
			return i.Address, true
		}
	}
	return netip.Prefix{}, false
}

// HasRole reports whether the node holds role r.
func (n *NodePlan) HasRole(r string) bool {
	for _, x := range n.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// HasService reports whether the node runs service s.
func (n *NodePlan) HasService(s string) bool {
	for _, x := range n.Services {
		if x == s {
			return true
		}
	}
	return false
}
