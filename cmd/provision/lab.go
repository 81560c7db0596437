package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/internal/vm"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// labInsideEnv marks a process the CLI started inside the lab's appliance
// namespace.
const labInsideEnv = "PROVISION_LAB_INSIDE"

func (a *app) labCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "The virtual lab: build a whole site on this machine",
		Long: `lab simulates a site's rack on this machine, for demonstrations, tests and
rehearsals. 'lab up' makes a network namespace per node whose PXE NIC hangs
on a bridge that is the management VLAN, a namespace for the appliance with
admin01's addresses, and one simulated Dell iDRAC (Redfish) per node at the
node's iDRAC address. Like a new rack, the nodes' MACs are unknown: a rollout
discovers them over Redfish. When a simulated iDRAC boots its server, a
simulated node PXE-boots over real DHCP, TFTP and HTTP, fetches and lints its
kickstart, calls back, reboots and runs sshd.

While a lab is up (recorded in the state directory), serve, up, role,
rebuild, bmc and profile run inside it with no extra flags, and so do status
and netboot when they ask a serve running in it (its API's address exists
only there). Nothing leaves the namespaces.
Needs root and iproute2.`,
		Example: `  provision lab up --site sites/paper.toml
  provision up --yes --site sites/paper.toml
  provision lab down --site sites/paper.toml`,
	}
	cmd.AddCommand(a.labUpCmd(), a.labDownCmd(), a.labStatusCmd(), a.labDaemonCmd(), a.labBootCmd())
	return cmd
}

func (a *app) labUpCmd() *cobra.Command {
	var powerDelay, installTime time.Duration
	var down, noCallback, slow, flap, qemuNodes []string
	var qemuCount int
	var vmkit string
	var missingDisk map[string]string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the site's virtual lab",
		Long: `up builds the lab of the site: namespaces, bridges, veths, a stand-in install
tree (unless one is imported), and the simulated iDRACs, whose certificates it
pins. Every node of the site starts new and powered off, with no known MACs.

Fault switches make some nodes misbehave, to rehearse failures:

  --idrac-down NODE         the iDRAC does not answer at all
  --idrac-slow NODE[=DELAY] the iDRAC is slow, like a busy iDRAC 7: logins and
                            power actions answer DELAY late (default 2s),
                            other requests a quarter of that. The appliance
                            waits 30s for an answer: with DELAY above that
                            the node fails, its reason saying what timed out
  --no-callback NODE        the installer's callbacks never arrive
  --missing-disk NODE=DISK  a disk is missing: the kickstart's %pre refuses
                            the machine
  --link-flap NODE[=PERIOD[xTIMES]]
                            the node's switch port goes down for a second
                            every PERIOD (default 4s), TIMES times (default
                            3; 0: until power-off), from each power-on. The
                            firmware and installer wait for the link and
                            retry; a boot that fails anyway is retried by
                            the rollout

Each switch is repeatable; 'lab status' shows them.

QEMU nodes: --qemu N makes the last N nodes of the site (or --qemu-node NODE
the ones named) QEMU VMs with real firmware: SeaBIOS with Debian's iPXE ROM,
or OVMF's own PXE for a uefi node. Their iDRACs are simulated as for every
node; when one boots its server PXE-once, the VM PXE-boots over the node's
cable, iPXE loads a real Linux kernel and a busybox installer (the VM kit,
'make vmkit'), which fetches the node's kickstart with its token, posts the
callbacks, writes the kickstart to the VM's disk and reboots; once the
firmware turns to the disk, the lab stops the VM and runs the installed
system (network, sshd) from the kickstart, as for a simulated node. Each VM
takes 10-30 s of a CPU core under emulation; its console is
STATE/lab/NODE.console.`,
		Example: `  provision lab up --site sites/paper.toml
  provision lab up --site sites/paper.toml --idrac-down compute07 --missing-disk compute03=sdb
  provision lab up --site sites/paper.toml --idrac-slow compute02=3s --link-flap compute04=5sx2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			site, err := filepath.Abs(a.site)
			if err != nil {
				return err
			}
			state, err := filepath.Abs(a.state)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			faults := map[string]lab.NodeFaults{}
			set := func(node string, fn func(*lab.NodeFaults)) error {
				if _, ok := plan.Node(node); !ok {
					return fmt.Errorf("fault for %s: not in the site", node)
				}
				f := faults[node]
				fn(&f)
				faults[node] = f
				return nil
			}
			for _, n := range down {
				if err := set(n, func(f *lab.NodeFaults) { f.IDRACDown = true }); err != nil {
					return err
				}
			}
			for _, n := range noCallback {
				if err := set(n, func(f *lab.NodeFaults) { f.NoCallback = true }); err != nil {
					return err
				}
			}
			for n, d := range missingDisk {
				if err := set(n, func(f *lab.NodeFaults) { f.MissingDisk = d }); err != nil {
					return err
				}
			}
			if err := labSlowFlap(slow, flap, set); err != nil {
				return err
			}
			qemu, err := labQEMUNodes(plan, qemuCount, qemuNodes)
			if err != nil {
				return err
			}
			var kit *vm.Kit
			if len(qemu) > 0 {
				if vmkit == "" {
					vmkit = vm.KitDir(a.getenv)
				}
				if kit, err = vm.FindKit(vmkit); err != nil {
					return fmt.Errorf("--qemu: %w", err)
				}
			}
			start := time.Now()
			rec, err := lab.Up(cmd.Context(), lab.Config{SiteFile: site, State: state, Plan: plan, Log: a.log,
				InstallTime: installTime, Faults: faults, QEMU: qemu, Kit: kit,
				DaemonCmd: func(ns string) *exec.Cmd {
					return exec.Command("ip", "netns", "exec", ns, exe, "lab", "daemon", "--site", site, "--state", state,
						"--power-delay", powerDelay.String())
				}})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "lab %s up in %s: %d nodes, appliance %s on %s in namespace %s, iDRACs in %s\n",
				rec.Site, time.Since(start).Round(time.Millisecond), len(rec.Nodes), rec.Address, rec.Interface, rec.Appliance, rec.IDRAC)
			fmt.Fprintf(a.stdout, "next: provision up --yes --site %s --state %s\n", a.site, a.state)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&powerDelay, "power-delay", 500*time.Millisecond, "how long a simulated server takes to change power state")
	fl.DurationVar(&installTime, "install-time", 5*time.Second, "how long a simulated install takes")
	fl.StringArrayVar(&down, "idrac-down", nil, "`NODE`'s iDRAC does not answer (repeatable)")
	fl.StringArrayVar(&noCallback, "no-callback", nil, "`NODE`'s installer never calls back (repeatable)")
	fl.StringToStringVar(&missingDisk, "missing-disk", nil, "`NODE=DISK`: the node lacks that disk (sdb ...)")
	fl.StringArrayVar(&slow, "idrac-slow", nil, "`NODE[=DELAY]`: the node's iDRAC answers logins and actions DELAY late (default 2s), the rest DELAY/4 (repeatable)")
	fl.StringArrayVar(&flap, "link-flap", nil, "`NODE[=PERIOD[xTIMES]]`: the node's switch port goes down 1s every PERIOD (default 4s), TIMES times (default 3, 0: until power-off) from each power-on (repeatable)")
	fl.IntVar(&qemuCount, "qemu", 0, "the last `N` nodes of the site are QEMU VMs with real firmware")
	fl.StringArrayVar(&qemuNodes, "qemu-node", nil, "`NODE` is a QEMU VM (repeatable)")
	fl.StringVar(&vmkit, "vmkit", "", "the VM kit `DIR` (default $PROVISION_VMKIT, then "+vm.DefaultKitDir+"; make vmkit)")
	return cmd
}

// labQEMUNodes picks the nodes that are QEMU VMs: those named, else the
// last count of the site's nodes (the appliance is never one), each with
// its firmware from its boot mode.
func labQEMUNodes(plan *provision.Plan, count int, named []string) (map[string]string, error) {
	fw := func(n *provision.NodePlan) string {
		if n.BootMode == "uefi" {
			return string(vm.UEFI)
		}
		return string(vm.BIOS)
	}
	out := map[string]string{}
	for _, name := range named {
		n, ok := plan.Node(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("--qemu-node %s: not in the site", name)
		case n.Appliance:
			return nil, fmt.Errorf("--qemu-node %s: the appliance runs the lab; it cannot be a VM", name)
		}
		out[name] = fw(n)
	}
	if count < 0 {
		return nil, fmt.Errorf("--qemu %d: want a count of nodes", count)
	}
	for i := len(plan.Nodes) - 1; i >= 0 && count > 0; i-- {
		if n := plan.Nodes[i]; !n.Appliance {
			if _, dup := out[n.Name]; !dup {
				out[n.Name] = fw(n)
				count--
			}
		}
	}
	if count > 0 {
		return nil, fmt.Errorf("--qemu: the site has fewer nodes than asked")
	}
	return out, nil
}

// labSlowFlap sets the --idrac-slow and --link-flap faults.
func labSlowFlap(slow, flap []string, set func(string, func(*lab.NodeFaults)) error) error {
	for _, v := range slow {
		node, val, _ := strings.Cut(v, "=")
		d, err := lab.ParseIDRACSlow(val)
		if err != nil {
			return fmt.Errorf("--idrac-slow %s: %w", v, err)
		}
		if err := set(node, func(f *lab.NodeFaults) { f.IDRACSlow = lab.Duration{Duration: d} }); err != nil {
			return err
		}
	}
	for _, v := range flap {
		node, val, _ := strings.Cut(v, "=")
		lf, err := lab.ParseLinkFlap(val)
		if err != nil {
			return fmt.Errorf("--link-flap %s: %w", v, err)
		}
		if err := set(node, func(f *lab.NodeFaults) { f.LinkFlap = &lf }); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) labDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the virtual lab: namespaces, links, processes",
		Long: `down stops the lab's simulated iDRACs and nodes and removes every namespace
and link of the site's lab. It finds them by name, so it also cleans up after
a crash. Node events stay in the state directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name := ""
			if rec, err := lab.Load(a.state); err == nil {
				name = rec.Site
			} else if plan, err := a.loadPlan(); err == nil {
				name = plan.Site.Name
			}
			if err := lab.Down(cmd.Context(), a.state, name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "lab %s down\n", name)
			return nil
		},
	}
}

func (a *app) labStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the lab that is up",
		Long:  `status shows the lab recorded in the state directory: its namespaces, iDRAC endpoints and fault switches.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec, err := lab.Load(a.state)
			if errors.Is(err, fs.ErrNotExist) {
				return exitError{code: 1, msg: "no lab is up in " + a.state}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "lab %s (site file %s), daemon pid %d, appliance %s on %s in %s\n",
				rec.Site, rec.SiteFile, rec.DaemonPID, rec.Address, rec.Interface, rec.Appliance)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tNAMESPACE\tiDRAC\tKIND\tFAULTS")
			names := make([]string, 0, len(rec.Nodes))
			for n := range rec.Nodes {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				kind := "simulated"
				if fw, ok := rec.QEMU[n]; ok {
					kind = "qemu " + fw
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, rec.Nodes[n], rec.Endpoints[n], kind, rec.Faults[n])
			}
			return tw.Flush()
		},
	}
}

func (a *app) labDaemonCmd() *cobra.Command {
	var powerDelay time.Duration
	cmd := &cobra.Command{
		Use:    "daemon",
		Short:  "Run the lab's simulated iDRACs (started by lab up)",
		Long:   `daemon runs in the lab's iDRAC namespace: one simulated iDRAC per node, and the simulated nodes they boot.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			site, err := a.loadSite()
			if err != nil {
				return err
			}
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			rec, err := lab.Load(a.state)
			if err != nil {
				return err
			}
			d := &lab.Daemon{Plan: plan, Secrets: site.Secrets, State: a.state, PowerDelay: powerDelay, Faults: rec.Faults, Log: a.log,
				BootCmd: func(node string, pxe bool) *exec.Cmd {
					args := []string{"netns", "exec", lab.NodeNamespace(plan.Site.Name, node), exe, "lab", "boot", node,
						"--site", a.site, "--state", a.state}
					if pxe {
						args = append(args, "--pxe")
					}
					return exec.Command("ip", args...)
				}}
			return d.Run(cmd.Context())
		},
	}
	cmd.Flags().DurationVar(&powerDelay, "power-delay", 500*time.Millisecond, "how long a simulated server takes to change power state")
	return cmd
}

// intoLab runs this command again inside the lab's appliance namespace
// when a lab is up and this process is not in it yet. It reports whether
// it did (and the command's result).
func (a *app) intoLab(ctx context.Context) (bool, error) {
	rec, err := lab.Load(a.state)
	if err != nil || a.getenv(labInsideEnv) == rec.Appliance {
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return true, err
	}
	site, _ := filepath.Abs(a.site)
	state, _ := filepath.Abs(a.state)
	args := append([]string{"netns", "exec", rec.Appliance, exe}, a.args...)
	c := exec.CommandContext(ctx, "ip", args...)
	c.Env = append(os.Environ(), labInsideEnv+"="+rec.Appliance, "PROVISION_SITE="+site, "PROVISION_STATE="+state)
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return true, exitError{code: ee.ExitCode()}
	}
	return true, err
}
