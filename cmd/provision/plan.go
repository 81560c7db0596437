package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) planCmd() *cobra.Command {
	var asJSON bool
	var explain string
	cmd := &cobra.Command{
		Use:   "plan [NODE...]",
		Short: "Show the resolved plan of the site or of some nodes",
		Long: `plan resolves the site file into the plan of each node: roles, hardware, disk and
RAID layout, every interface (bonds and their slaves and options, VLAN
sub-interfaces, addresses, gateway), iDRAC endpoint, boot mode, the VIPs and
services it carries, and the rollout order.

With no NODE it shows the rollout order and every node; with NODEs, only those.
--json prints the plan as JSON (documented in docs/plan-json.md).
--explain NODE says, for each setting of the node, which level of the site file
set it (built-in default, [defaults], hardware model, role, node) and where.`,
		Example: `  provision plan --site sites/paper.toml
  provision plan compute05
  provision plan --json > plan.json
  provision plan --explain compute05`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			if explain != "" {
				n, ok := plan.Node(explain)
				if !ok {
					return fmt.Errorf("node %q is not in %s", explain, a.site)
				}
				return printExplain(a.stdout, plan, n)
			}
			nodes, err := selectNodes(plan, args)
			if err != nil {
				return err
			}
			if asJSON {
				out := plan
				if len(args) > 0 {
					cp := *plan
					cp.Nodes = nodes
					out = &cp
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if len(args) == 0 {
				printStages(a.stdout, plan)
			}
			for _, n := range nodes {
				printNode(a.stdout, plan, n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&explain, "explain", "", "say where each setting of `NODE` came from")
	_ = cmd.RegisterFlagCompletionFunc("explain", a.completeNodes)
	return cmd
}

// selectNodes returns the named nodes, or all of them.
func selectNodes(plan *provision.Plan, names []string) ([]*provision.NodePlan, error) {
	if len(names) == 0 {
		return plan.Nodes, nil
	}
	var out []*provision.NodePlan
	var missing []string
	for _, name := range names {
		n, ok := plan.Node(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		out = append(out, n)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("not in the site: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// completeNodes completes node names from the site file.
func (a *app) completeNodes(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	a.resolveGlobals()
	site, _ := provision.Load(a.site)
	if site == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, n := range site.Nodes {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func printStages(w io.Writer, plan *provision.Plan) {
	fmt.Fprintf(w, "site %s (%s), x = %d, appliance %s at %s\n\nrollout order:\n",
		plan.Site.Name, plan.Site.Domain, plan.Site.X, plan.Site.Appliance, plan.Site.ApplianceAddr)
	for _, st := range plan.Stages {
		fmt.Fprintf(w, "  %d. %-20s %s\n", st.Stage, st.Name, strings.Join(st.Nodes, " "))
	}
	fmt.Fprintln(w)
}

func printNode(w io.Writer, plan *provision.Plan, n *provision.NodePlan) {
	stage := ""
	if n.Stage < len(plan.Stages) {
		stage = plan.Stages[n.Stage].Name
	}
	fmt.Fprintf(w, "%s (%s)  stage %d: %s", n.Name, n.FQDN, n.Stage, stage)
	if n.Appliance {
		fmt.Fprint(w, "  [appliance: never powered or reinstalled by a rollout]")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	row("roles", strings.Join(n.Roles, ", "))
	if n.Rack != "" {
		row("location", fmt.Sprintf("rack %s unit %d", n.Rack, n.Unit))
	}
	hw := n.Hardware
	row("hardware", fmt.Sprintf("%s: %s, %s, %s", hw.Name, hw.Model, hw.CPU, hw.Memory))
	var nics []string
	for _, nic := range hw.NICs {
		s := nic.Name + " " + nic.Speed
		if nic.MAC != "" {
			s += " " + nic.MAC
		}
		nics = append(nics, s)
	}
	row("nics", strings.Join(nics, ", "))
	netboot := "on"
	if !n.Netboot {
		netboot = "off"
	}
	mac := n.PXE.MAC
	if mac == "" {
		mac = "MAC not yet known"
	}
	row("boot", fmt.Sprintf("%s firmware, %s, image %s, netboot %s", n.BootMode, n.Loader, n.Image, netboot))
	row("pxe", fmt.Sprintf("%s (%s) via %s, %s", n.PXE.NIC, mac, n.PXE.Interface, n.PXE.Prefix))
	if n.IDRAC.Endpoint != "" {
		row("idrac", n.IDRAC.Endpoint)
	}
	for i, v := range n.Storage {
		k := ""
		if i == 0 {
			k = "storage"
		}
		row(k, describeVolume(v))
	}
	tw.Flush()
	fmt.Fprintln(w, "  interfaces:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tKIND\tNETWORK\tVLAN\tADDRESS\tMTU\tDETAIL")
	for _, i := range n.Interfaces {
		vlan, addr := "", ""
		if i.VLAN != 0 {
			vlan = fmt.Sprint(i.VLAN)
			if !i.Tagged {
				vlan += " native"
			}
		}
		if i.Address.IsValid() {
			addr = i.Address.String()
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%d\t%s\n", i.Name, i.Kind, i.Network, vlan, addr, i.MTU, ifaceDetail(i))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	if n.Gateway.IsValid() {
		row("gateway", fmt.Sprintf("%s on %s", n.Gateway, n.GatewayNet))
	}
	for _, r := range n.Routes {
		row("route", fmt.Sprintf("%s via %s dev %s", r.To, r.Via, r.Interface))
	}
	row("dns, ntp", fmt.Sprintf("%v, %v", n.DNS, n.NTP))
	row("services", strings.Join(n.Services, " "))
	for i, v := range n.VIPs {
		k := ""
		if i == 0 {
			k = "vips"
		}
		row(k, fmt.Sprintf("%s %s (%s)", v.Name, v.Address, v.As))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func ifaceDetail(i provision.Interface) string {
	switch {
	case i.Kind == provision.KindBond:
		return fmt.Sprintf("mode %s, slaves %s, %q", i.BondMode, strings.Join(i.Slaves, "+"), i.BondOptions)
	case i.Master != "":
		s := "slave of " + i.Master
		if i.MAC != "" {
			s += ", " + i.MAC
		}
		return s
	case i.Kind == provision.KindVLAN:
		return "tagged on " + i.Parent
	case i.MAC != "":
		return i.MAC
	}
	return ""
}

func describeVolume(v provision.Volume) string {
	level := "RAID-" + v.Level
	if v.Level == "jbod" {
		level = "JBOD"
	}
	how := "software"
	if v.Hardware {
		how = "PERC"
	}
	if v.Level == "jbod" {
		how = "no RAID"
	}
	s := fmt.Sprintf("%-9s %s (%s) over slots %s, %s", v.Name, level, how, slotList(v.Members), humanBytes(v.Bytes))
	switch v.Use {
	case provision.UseLVM:
		s += ", LVM volume group " + v.VG + ", not mounted"
	case provision.UseSwift:
		s += fmt.Sprintf(", one %s file system per disk at %s/{%s..%s}", v.FS, v.Mount, v.Labels[0], v.Labels[len(v.Labels)-1])
	default:
		s += fmt.Sprintf(", %s on %s", v.FS, v.Mount)
	}
	return s
}

func slotList(m []int) string {
	var parts []string
	for i := 0; i < len(m); {
		j := i
		for j+1 < len(m) && m[j+1] == m[j]+1 {
			j++
		}
		if j > i+1 {
			parts = append(parts, fmt.Sprintf("%d-%d", m[i], m[j]))
		} else {
			for k := i; k <= j; k++ {
				parts = append(parts, fmt.Sprint(m[k]))
			}
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func humanBytes(b int64) string {
	switch {
	case b >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(b)/1e12)
	default:
		return fmt.Sprintf("%d GB", b/1e9)
	}
}

func printExplain(w io.Writer, plan *provision.Plan, n *provision.NodePlan) error {
	fmt.Fprintf(w, "%s: where each setting comes from (later levels override earlier: built-in, site [defaults], hardware, role, node)\n\n", n.Name)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	for _, e := range provision.Explain(plan, n) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, e.Value, e.From)
	}
	return tw.Flush()
}
