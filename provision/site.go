package provision

// The types in this file mirror the site file (TOML) one to one. They hold
// exactly what the operator wrote: nothing is derived or defaulted here.
// Build turns a Site into a Plan.

// Site is a parsed site inventory.
type Site struct {
	Site      SiteHeader           `toml:"site"`
	Defaults  Settings             `toml:"defaults"`
	Networks  []NetworkSpec        `toml:"network"`
	Hardware  map[string]*Hardware `toml:"hardware"`
	Roles     map[string]*Role     `toml:"role"`
	Nodes     []*NodeSpec          `toml:"node"`
	VIPs      []VIPSpec            `toml:"vip"`
	Switches  []SwitchSpec         `toml:"switch"`
	Secrets   *Secrets             `toml:"-"`
	File      string               `toml:"-"` // path the site was read from
	positions *positions
}

// SiteHeader is the [site] table.
type SiteHeader struct {
	Name     string `toml:"name"`
	Domain   string `toml:"domain"`
	Timezone string `toml:"timezone"`
	// X is the third octet the paper writes as "x" in every address; an
	// address component written as x in this file is replaced by it.
	X int `toml:"x"`
	// Appliance names the node the appliance itself runs on (admin01).
	// It is never powered or reinstalled by a rollout.
	Appliance string `toml:"appliance"`
	// SecretsFile is read relative to the site file.
	SecretsFile string `toml:"secrets"`
	// ApplianceURL is the base URL installing nodes fetch from; by default
	// http://<appliance management address>.
	ApplianceURL string `toml:"appliance_url"`
}

// Settings are the values that can be set at site level ([defaults]) and
// overridden by hardware model, role and node, in that order.
type Settings struct {
	BootMode    string   `toml:"boot_mode"`    // bios | uefi
	Loader      string   `toml:"loader"`       // ipxe | pxelinux (BIOS only)
	RAID        string   `toml:"raid"`         // software | hardware (PERC)
	Image       string   `toml:"image"`        // install tree name, e.g. centos-6.5
	PXENIC      string   `toml:"pxe_nic"`      // NIC the node PXE-boots from
	Console     string   `toml:"console"`      // kernel console, e.g. ttyS0,115200n8
	Netboot     *bool    `toml:"netboot"`      // whether a PXE boot installs
	SELinux     string   `toml:"selinux"`      // enforcing | permissive | disabled
	Firewall    *bool    `toml:"firewall"`     // iptables on after install
	Lang        string   `toml:"lang"`         // installer language
	Keyboard    string   `toml:"keyboard"`     // console keymap
	BondMode    string   `toml:"bond_mode"`    // default mode of a bond
	BondOptions string   `toml:"bond_options"` // default extra BONDING_OPTS
	MTU         int      `toml:"mtu"`          // default MTU of an interface
	KernelArgs  []string `toml:"kernel_args"`  // extra installer kernel arguments
}

// NetworkSpec is one [[network]]: a VLAN of the site.
type NetworkSpec struct {
	Name    string `toml:"name"`
	VLAN    int    `toml:"vlan"`
	CIDR    string `toml:"cidr"`
	Gateway string `toml:"gateway"`
	// Router is the node whose own address on this network is the gateway
	// (admin01's em4 forwards for the device management network).
	Router  string `toml:"router"`
	MTU     int    `toml:"mtu"`
	Purpose string `toml:"purpose"`
	// Default marks the network that carries a node's default route when
	// the node is on it; otherwise the management network does.
	Default bool `toml:"default_route"`
}

// Hardware is one [hardware.NAME] model.
type Hardware struct {
	Settings
	Model  string      `toml:"model"`
	CPU    string      `toml:"cpu"`
	Memory string      `toml:"memory"`
	NICs   []NICSpec   `toml:"nic"`
	Disks  []DiskSpec  `toml:"disk"`
	Arrays []ArraySpec `toml:"array"`
}

// NICSpec is a network port by its OS name (em1, p1p1, ...).
type NICSpec struct {
	Name  string `toml:"name"`
	Speed string `toml:"speed"` // 1G, 10G
	// RedfishID is the iDRAC's id of the port (NIC.Integrated.1-1-1); by
	// default derived from the name.
	RedfishID string `toml:"redfish_id"`
}

// DiskSpec is a disk by controller slot, or Count identical disks in
// consecutive slots from Slot.
type DiskSpec struct {
	Slot  int    `toml:"slot"`
	Count int    `toml:"count"`
	Size  string `toml:"size"` // 120GB, 0.9TB
	Kind  string `toml:"kind"` // ssd | sas | sata | nvme
}

// ArraySpec groups disks: a RAID set or JBOD disks, and what they hold.
type ArraySpec struct {
	Name    string `toml:"name"`
	Level   string `toml:"level"` // 0, 1, 5, 6, 10, jbod
	Members []int  `toml:"members"`
	// Use is os | data | ephemeral | lvm | swift.
	Use         string `toml:"use"`
	Mount       string `toml:"mount"`        // for data and ephemeral
	FS          string `toml:"fs"`           // ext4 (default) or xfs
	VG          string `toml:"vg"`           // for lvm
	LabelPrefix string `toml:"label_prefix"` // for swift: label prefix of each disk
}

// Role is one [role.NAME].
type Role struct {
	Settings
	Hardware   string       `toml:"hardware"`
	Services   []string     `toml:"services"`
	Bonds      []BondSpec   `toml:"bond"`
	Interfaces []AttachSpec `toml:"iface"`
	Packages   []string     `toml:"packages"`
	Routes     []RouteSpec  `toml:"route"`
}

// BondSpec is a bond of NICs.
type BondSpec struct {
	Name    string   `toml:"name"`
	Slaves  []string `toml:"slaves"`
	Mode    string   `toml:"mode"`
	Options string   `toml:"options"`
}

// AttachSpec puts a network on a device (bond or NIC), tagged or not.
type AttachSpec struct {
	Device  string `toml:"device"`
	Network string `toml:"network"`
	Tagged  bool   `toml:"tagged"`
}

// RouteSpec is a static route.
type RouteSpec struct {
	To      string `toml:"to"`
	Via     string `toml:"via"`
	Network string `toml:"network"`
}

// NodeSpec is one [[node]].
type NodeSpec struct {
	Settings
	Name  string   `toml:"name"`
	Roles []string `toml:"roles"`
	// Hardware overrides the hardware model the roles give.
	Hardware string `toml:"hardware"`
	Rack     string `toml:"rack"`
	Unit     int    `toml:"unit"`
	// Host is the last octet of the node on every network it is on.
	Host int `toml:"host"`
	// Addresses overrides the address on a network, by network name.
	Addresses map[string]string `toml:"addresses"`
	// IDRAC is the iDRAC address; by default the host number on the
	// device management network.
	IDRAC string `toml:"idrac"`
	// IDRACPort is the Redfish HTTPS port (443 by default).
	IDRACPort int `toml:"idrac_port"`
	// MACs of the node's NICs by OS name, when known.
	MACs map[string]string `toml:"macs"`
}

// VIPSpec is a virtual IP held by Keepalived.
type VIPSpec struct {
	Name     string   `toml:"name"`
	Address  string   `toml:"address"`
	Network  string   `toml:"network"`
	Services []string `toml:"services"`
	// Backends are node names or "role:NAME".
	Backends []string `toml:"backends"`
	// BackendNetwork is where HAProxy reaches the backends; by default the
	// VIP's own network (the external VIP forwards to the management one).
	BackendNetwork string `toml:"backend_network"`
	// Holders are the nodes (or "role:NAME") running Keepalived for it.
	Holders []string `toml:"holders"`
}

// SwitchSpec is a managed switch on the device management network.
type SwitchSpec struct {
	Name    string `toml:"name"`
	Model   string `toml:"model"`
	Address string `toml:"address"`
	Network string `toml:"network"`
}
