// Package lab is the virtual lab: a whole site on one machine. Each node
// is a network namespace whose PXE NIC (a veth with the MAC its simulated
// iDRAC reports) hangs on a bridge that is the management VLAN; the
// appliance runs in a namespace of its own with admin01's addresses on
// that bridge and on the device-management bridge, where one simulated
// iDRAC per node listens at the node's iDRAC address. Nothing leaves these
// namespaces. When a simulated iDRAC boots its server, the lab starts the
// simulated node (package simnode) in the node's namespace; when it powers
// it off, the lab stops it.
//
// Fault switches (NodeFaults) rehearse failures per node: the iDRAC down or
// slow (the daemon's simulators), the switch port flapping (the daemon
// takes the node's bridge port down and up from each power-on), the
// installer never calling back or a disk missing (the simulated node).
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/provision"
)

// Interface names in the appliance's namespace.
const (
	MgmtBridge  = "br-mgmt"
	IDRACBridge = "br-idrac"
	idracLink   = "v-idrac"
	idracIf     = "idrac0" // in the iDRAC namespace
)

// Record is what a lab that is up writes under the state directory
// (STATE/lab/lab.json) so that the other verbs find it.
type Record struct {
	Site       string            `json:"site"`
	SiteFile   string            `json:"site_file"`
	Appliance  string            `json:"appliance_namespace"`
	IDRAC      string            `json:"idrac_namespace"`
	Nodes      map[string]string `json:"node_namespaces"`
	Endpoints  map[string]string `json:"endpoints"`
	DaemonPID  int               `json:"daemon_pid"`
	Interface  string            `json:"interface"`
	Address    string            `json:"address"`
	Namespaces []string          `json:"namespaces"`
	// InstallTime is how long a simulated install takes.
	InstallTime Duration `json:"install_time"`
	// Faults are the simulated nodes' fault switches, by node.
	Faults map[string]NodeFaults `json:"faults,omitempty"`
	// QEMU are the nodes that are QEMU VMs, with their firmware (bios,
	// uefi); VMKit is the kit they boot (package vm).
	QEMU  map[string]string `json:"qemu,omitempty"`
	VMKit string            `json:"vm_kit,omitempty"`
}

// Duration is a time.Duration written as "5s" in JSON.
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

// Dir is the lab's directory in the state directory.
func Dir(state string) string { return filepath.Join(state, "lab") }

// Load reads the record of the lab that is up; os.ErrNotExist when none.
func Load(state string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(Dir(state), "lab.json"))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(Dir(state), "lab.json"), err)
	}
	return &r, nil
}

func (r *Record) save(state string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(Dir(state), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(Dir(state), "lab.json.tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(Dir(state), "lab.json"))
}

// prefix is the start of every namespace name of a site's lab.
func prefix(site string) string { return "pvl-" + site + "-" }

// NodeNamespace names a node's namespace.
func NodeNamespace(site, node string) string { return prefix(site) + node }

func nodeNS(site, node string) string { return NodeNamespace(site, node) }

// peerName names a node's veth end on the bridge (15 bytes at most).
func peerName(node string) string {
	h := fnv.New32a()
	h.Write([]byte(node))
	return fmt.Sprintf("vn%08x", h.Sum32())
}

// Layout is the lab's network, worked out from the plan.
type Layout struct {
	Site      string
	Appliance *provision.NodePlan
	MgmtAddr  netip.Prefix // admin01 on the management network
	IDRACAddr netip.Prefix // admin01 on the device-management network
	Nodes     []*provision.NodePlan
}

// LayoutOf works out the lab of a plan: every node but the appliance.
func LayoutOf(plan *provision.Plan) (*Layout, error) {
	l := &Layout{Site: plan.Site.Name}
	for _, n := range plan.Nodes {
		if n.Appliance {
			l.Appliance = n
			continue
		}
		if !n.IDRAC.Address.IsValid() {
			return nil, fmt.Errorf("node %s: no iDRAC address: the lab simulates one per node", n.Name)
		}
		l.Nodes = append(l.Nodes, n)
	}
	if l.Appliance == nil {
		return nil, errors.New("the site names no appliance node ([site] appliance)")
	}
	mgmt, ok := l.Appliance.AddressOn(plan.Site.Management)
	if !ok {
		return nil, fmt.Errorf("appliance %s has no address on the management network", l.Appliance.Name)
	}
	l.MgmtAddr = mgmt
	for _, nw := range plan.Networks {
		if nw.Purpose == provision.PurposeDeviceMgmt {
			if a, ok := l.Appliance.AddressOn(nw.Name); ok {
				l.IDRACAddr = a
			} else if nw.Gateway.IsValid() {
				l.IDRACAddr = netip.PrefixFrom(nw.Gateway, nw.Prefix.Bits())
			}
		}
	}
	if !l.IDRACAddr.IsValid() {
		return nil, errors.New("the appliance has no address on a device-management network: it could not reach the iDRACs")
	}
	return l, nil
}

// PXEMAC is the MAC the lab gives a node's PXE NIC: the one its simulated
// iDRAC reports for that NIC, so that discovery finds it.
func PXEMAC(n *provision.NodePlan) (string, error) {
	for _, nic := range n.Hardware.NICs {
		if nic.Name == n.PXE.NIC {
			return idracsim.MAC(n.Name, nic.RedfishID).String(), nil
		}
	}
	return "", fmt.Errorf("node %s: PXE NIC %s is not a NIC of its hardware", n.Name, n.PXE.NIC)
}

// batch is the ip commands of one namespace ("" for the caller's).
type batch struct {
	ns    string
	lines []string
}

// commands are the ip batches that build the lab's network, in order.
func (l *Layout) commands() ([]batch, map[string]string, error) {
	app, idr := prefix(l.Site)+"app", prefix(l.Site)+"idrac"
	root := batch{lines: []string{"netns add " + app, "netns add " + idr}}
	appB := batch{ns: app, lines: []string{
		"link set lo up",
		"link add " + MgmtBridge + " type bridge",
		"link add " + IDRACBridge + " type bridge",
		"addr add " + l.MgmtAddr.String() + " dev " + MgmtBridge,
		"addr add " + l.IDRACAddr.String() + " dev " + IDRACBridge,
		"link set " + MgmtBridge + " up",
		"link set " + IDRACBridge + " up",
		"link add " + idracLink + " type veth peer name " + idracIf + " netns " + idr,
		"link set " + idracLink + " master " + IDRACBridge + " up",
	}}
	idrB := batch{ns: idr, lines: []string{"link set lo up", "link set " + idracIf + " up"}}
	var nodes []batch
	nss := map[string]string{}
	for _, n := range l.Nodes {
		ns := nodeNS(l.Site, n.Name)
		nss[n.Name] = ns
		mac, err := PXEMAC(n)
		if err != nil {
			return nil, nil, err
		}
		peer := peerName(n.Name)
		root.lines = append(root.lines, "netns add "+ns)
		appB.lines = append(appB.lines,
			"link add "+peer+" type veth peer name "+n.PXE.NIC+" address "+mac+" netns "+ns,
			"link set "+peer+" master "+MgmtBridge+" up")
		idrB.lines = append(idrB.lines, "addr add "+netip.PrefixFrom(n.IDRAC.Address, l.IDRACAddr.Bits()).String()+" dev "+idracIf)
		nodes = append(nodes, batch{ns: ns, lines: []string{"link set lo up", "link set " + n.PXE.NIC + " up"}})
	}
	return append([]batch{root, appB, idrB}, nodes...), nss, nil
}

// endpoints are the simulated iDRACs' URLs, as the appliance reaches them.
func (l *Layout) endpoints() map[string]string {
	out := map[string]string{}
	for _, n := range l.Nodes {
		out[n.Name] = "https://" + n.IDRAC.Address.String()
	}
	return out
}

// Create builds the lab's namespaces and links. On failure it removes
// what it made.
func (l *Layout) Create(ctx context.Context) (*Record, error) {
	if left, _ := namespaces(ctx, prefix(l.Site)); len(left) > 0 {
		return nil, fmt.Errorf("a lab of site %s is already up (namespaces %s): run 'provision lab down' first", l.Site, strings.Join(left, ", "))
	}
	batches, nss, err := l.commands()
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		if err := ipBatch(ctx, b.ns, b.lines); err != nil {
			_ = Destroy(context.WithoutCancel(ctx), l.Site)
			return nil, fmt.Errorf("lab network: %w", err)
		}
	}
	r := &Record{Site: l.Site, Appliance: prefix(l.Site) + "app", IDRAC: prefix(l.Site) + "idrac", Nodes: nss,
		Endpoints: l.endpoints(), Interface: MgmtBridge, Address: l.MgmtAddr.Addr().String()}
	r.Namespaces, _ = namespaces(ctx, prefix(l.Site))
	return r, nil
}

// Destroy kills every process in the site's lab namespaces and removes
// them. It finds them by name, so it also cleans up after a crash.
func Destroy(ctx context.Context, site string) error {
	nss, err := namespaces(ctx, prefix(site))
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if err := killNamespace(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
