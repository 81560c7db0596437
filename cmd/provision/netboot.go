package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// storeWait is how long the CLI waits for the state store's lock. A
// running server holds it for its whole life, so waiting longer would
// only delay the error.
const storeWait = 500 * time.Millisecond

func (a *app) netbootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netboot on|off|status NODE...",
		Short: "Turn a node's network install on or off, or show it",
		Long: `netboot sets whether a node's next PXE boot installs it ("on") or boots its local
disk ("off"). The flag lives in the state store (--state); a node whose flag was
never set follows the site file's netboot setting. The installer's "installed"
callback turns it off by itself, so a node installs once.

"status" with no NODE shows every node. The appliance node (admin01) is never
network-installed and cannot be turned on.

While 'provision serve' runs on the state, netboot asks it through its API
(on and off are recorded as the operator's; status shows what serve applies).`,
		Example: `  provision netboot on compute05 compute06
  provision netboot off compute05
  provision netboot status`,
	}
	set := func(on bool) *cobra.Command {
		word := onOff(on)
		return &cobra.Command{
			Use:               word + " NODE...",
			Short:             "Make the nodes' next PXE boot " + map[bool]string{true: "install them", false: "boot their local disk"}[on],
			Args:              cobra.MinimumNArgs(1),
			ValidArgsFunction: a.completeNodes,
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.netbootSet(args, on)
			},
		}
	}
	status := &cobra.Command{
		Use:               "status [NODE...]",
		Short:             "Show the nodes' netboot state and where it comes from",
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.netbootStatus(args)
		},
	}
	cmd.AddCommand(set(true), set(false), status)
	return cmd
}

// openStore opens the state store, turning a lock held by another process
// into an error a person can act on.
func (a *app) openStore() (*store.Store, error) {
	st, err := store.Open(a.state, storeWait)
	if err != nil {
		return nil, a.storeError(err)
	}
	return st, nil
}

func (a *app) storeError(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return exitError{code: 1, msg: fmt.Sprintf("state %s is in use by another provision process (is 'provision serve' running?); stop it and try again", a.state)}
	}
	return fmt.Errorf("open state: %w", err)
}

// netbootNodes resolves names to nodes, reporting every unknown one.
func netbootNodes(plan *provision.Plan, site string, names []string) ([]*provision.NodePlan, error) {
	var (
		out  []*provision.NodePlan
		errs []error
	)
	for _, name := range names {
		n, ok := plan.Node(name)
		if !ok {
			errs = append(errs, fmt.Errorf("node %q is not in %s", name, site))
			continue
		}
		out = append(out, n)
	}
	return out, errors.Join(errs...)
}

func (a *app) netbootSet(names []string, on bool) error {
	plan, err := a.loadPlan()
	if err != nil {
		return err
	}
	nodes, err := netbootNodes(plan, a.site, names)
	if err != nil {
		return err
	}
	if on {
		for _, n := range nodes {
			if n.Appliance {
				return fmt.Errorf("node %s is the appliance: it is never network-installed", n.Name)
			}
		}
	}
	st, err := store.Open(a.state, storeWait)
	if errors.Is(err, store.ErrLocked) {
		// provision serve holds the state: ask it (in a lab, from its
		// appliance namespace, the only place its API is).
		if inLab, err := a.intoLab(context.Background()); inLab {
			return err
		}
		if c, cerr := a.controlClient(); cerr == nil {
			return a.remoteNetboot(context.Background(), c, nodes, on)
		}
	}
	if err != nil {
		return a.storeError(err)
	}
	defer st.Close()
	for _, n := range nodes {
		was, err := st.Netboot(n)
		if err != nil {
			return err
		}
		if err := st.SetFlag(n.Name, store.FlagNetboot, on); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		ev := provision.Event{Node: n.Name, Source: "operator", Kind: "netboot-" + onOff(on),
			Msg: "netboot " + onOff(on) + " by hand", Attrs: map[string]string{"was": onOff(was)}}
		if _, err := st.Append(ev); err != nil {
			return err
		}
		a.log.Debug("netboot set", "node", n.Name, "netboot", on)
		fmt.Fprintf(a.stdout, "%s: netboot %s (was %s)\n", n.Name, onOff(on), onOff(was))
	}
	return nil
}

func (a *app) netbootStatus(names []string) error {
	plan, err := a.loadPlan()
	if err != nil {
		return err
	}
	nodes := plan.Nodes
	if len(names) > 0 {
		if nodes, err = netbootNodes(plan, a.site, names); err != nil {
			return err
		}
	}
	st, err := store.Open(a.state, storeWait)
	if errors.Is(err, store.ErrLocked) {
		// provision serve holds the state: ask it.
		if inLab, err := a.intoLab(context.Background()); inLab {
			return err
		}
		if c, cerr := a.controlClient(); cerr == nil {
			m, err := c.nodes(context.Background())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tNETBOOT\tFROM")
			for _, n := range nodes {
				fmt.Fprintf(tw, "%s\t%s\tprovision serve\n", n.Name, onOff(m[n.Name].Netboot))
			}
			return tw.Flush()
		}
	}
	if err != nil {
		return a.storeError(err)
	}
	defer st.Close()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNETBOOT\tFROM")
	for _, n := range nodes {
		on, err := st.Netboot(n)
		if err != nil {
			return err
		}
		_, set, err := st.Flag(n.Name, store.FlagNetboot)
		if err != nil {
			return err
		}
		from := "site file"
		switch {
		case n.Appliance:
			from = "appliance, never installed"
		case set:
			from = "state"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Name, onOff(on), from)
	}
	return tw.Flush()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
