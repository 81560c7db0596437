package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) roleCmd() *cobra.Command {
	var f rolloutFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "role NODE",
		Short: "Reinstall one node in its role",
		Long: `role reinstalls NODE from bare metal in the role(s) the site file gives it:
it shows the disks that will be wiped and asks (or --yes), then sets a
one-time PXE boot, power-cycles the node and follows it to ready, as 'up'
does for one node. Nothing else is touched.

It refuses while another operation holds the node, and refuses to take down
a controller whose Galera or RabbitMQ cluster would be left without a
majority of ready members, unless --force. To give a node another role,
change its roles in the site file ('provision check'), then run this.`,
		Example: `  provision role compute05
  provision role controller02 --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inLab, err := a.intoLab(cmd); inLab {
				return err
			}
			ap, err := a.openAppliance(&f.serve)
			if err != nil {
				return err
			}
			defer ap.Close()
			nodes, err := provision.SelectRollout(ap.Plan(), nil, args)
			if err != nil {
				return err
			}
			if err := provision.CheckQuorum(ap.Plan(), ap.Tracker.All(), args); err != nil {
				if !force {
					return fmt.Errorf("node %s: %w (--force to do it anyway)", args[0], err)
				}
				fmt.Fprintf(a.stderr, "WARNING: --force: %v\n", err)
			}
			return a.runRollout(cmd.Context(), ap, &f, nodes, rollout.Options{Reinstall: true}, "reinstall")
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "reinstall even if a cluster loses its quorum")
	return cmd
}

func (a *app) rebuildCmd() *cobra.Command {
	var f rolloutFlags
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Forget the site's node states and build every node again",
		Long: `rebuild rebuilds a whole environment (typically staging) from bare metal: it
forgets the state of every node of the site (their events stay in the log),
then installs every node again in rollout order, as 'up' does. admin01, the
appliance's own host, is never touched. It shows every disk that will be
wiped and asks (or --yes).`,
		Example: `  provision rebuild --site sites/staging.toml --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inLab, err := a.intoLab(cmd); inLab {
				return err
			}
			ap, err := a.openAppliance(&f.serve)
			if err != nil {
				return err
			}
			defer ap.Close()
			nodes, err := provision.SelectRollout(ap.Plan(), nil, nil)
			if err != nil {
				return err
			}
			if f.dryRun {
				a.showRollout(ap, nodes, rollout.Options{Reinstall: true}, "rebuild")
				return nil
			}
			if !f.yes {
				a.showRollout(ap, nodes, rollout.Options{Reinstall: true}, "rebuild")
				if !a.confirm(fmt.Sprintf("rebuild all %d nodes of site %s, wiping every disk listed above?", len(nodes), ap.Plan().Site.Name)) {
					return exitError{code: 1, msg: "not confirmed; nothing done"}
				}
				f.yes = true
			}
			for _, n := range nodes {
				if st := ap.Tracker.Status(n.Name); st.State.Busy() {
					return fmt.Errorf("node %s is %s: wait for it or stop its operation first", n.Name, st.State)
				}
				ap.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceOperator, Kind: provision.KindForget, Msg: "rebuild"})
			}
			return a.runRollout(cmd.Context(), ap, &f, nodes, rollout.Options{Reinstall: true}, "rebuild")
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "status [NODE...]",
		Short: "Show every node's install state",
		Long: `status shows each node's state (new, discovered, pxe-set, powering-on, dhcp,
booting, installing, installed, rebooting, handoff, ready, failed), since
when, its install attempt and, for a failed node, why. The state is derived
from the node's events in the state directory.`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := a.openAppliance(&sf)
			if err != nil {
				return err
			}
			defer ap.Close()
			nodes, err := selectNodes(ap.Plan(), args)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tSTATE\tSINCE\tATTEMPT\tREASON")
			count := map[provision.State]int{}
			for _, n := range nodes {
				st := ap.Tracker.Status(n.Name)
				count[st.State]++
				since := "-"
				if !st.Since.IsZero() {
					since = st.Since.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", n.Name, st.State, since, st.Attempt, st.Reason)
			}
			tw.Flush()
			var parts []string
			for _, s := range provision.States() {
				if count[s] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
				}
			}
			fmt.Fprintf(a.stdout, "%d nodes: %s\n", len(nodes), strings.Join(parts, ", "))
			return nil
		},
	}
	return cmd
}
