package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) roleCmd() *cobra.Command {
	var f rolloutFlags
	var force bool
	var as string
	cmd := &cobra.Command{
		Use:   "role NODE",
		Short: "Reinstall one node in its role",
		Long: `role reinstalls NODE from bare metal in the role(s) the site file gives it:
it shows the disks that will be wiped and asks (or --yes), then sets a
one-time PXE boot, power-cycles the node and follows it to ready, as 'up'
does for one node. Nothing else is touched.

It refuses while another operation holds the node, and refuses to take down
a controller whose Galera or RabbitMQ cluster would be left without a
majority of ready members, unless --force.

--as ROLE reinstalls the node in another role: its roles line in the site file
is rewritten (and the whole site checked before anything is written), after
you confirm (or --yes).`,
		Example: `  provision role compute05
  provision role controller02 --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err
			}
			if as != "" {
				if err := a.changeRoles(&f, args[0], strings.Split(as, ",")); err != nil {
					return err
				}
			}
			return a.rollout(cmd.Context(), &f, appliance.RolloutRequest{Nodes: args, Reinstall: true, Force: force}, "reinstall")
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "reinstall even if a cluster loses its quorum")
	cmd.Flags().StringVar(&as, "as", "", "give the node `ROLE[,ROLE...]` first: its roles line in the site file is rewritten (checked before it is written)")
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
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err
			}
			return a.rollout(cmd.Context(), &f, appliance.RolloutRequest{Reinstall: true, Forget: true}, "rebuild")
		},
	}
	f.register(cmd)
	return cmd
}

// statuses reads node states and netboot flags: from the state store,
// or from the running `provision serve` that holds it.
func (a *app) statuses(ctx context.Context, sf *serveFlags) (func(*provision.NodePlan) (provision.Status, bool), func(), error) {
	ap, err := a.openAppliance(sf)
	if errors.Is(err, store.ErrLocked) {
		c, cerr := a.controlClient()
		if errors.Is(cerr, errLabOutside) {
			return nil, nil, cerr
		}
		if cerr != nil {
			return nil, nil, err
		}
		m, err := c.nodes(ctx)
		if err != nil {
			return nil, nil, err
		}
		return func(n *provision.NodePlan) (provision.Status, bool) {
			if s, ok := m[n.Name]; ok {
				return s.Status, s.Netboot
			}
			return provision.Status{Node: n.Name, State: provision.StateNew}, false
		}, func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return func(n *provision.NodePlan) (provision.Status, bool) {
		on, err := ap.Store.Netboot(n)
		if err != nil {
			a.log.Warn("netboot flag", "node", n.Name, "err", err)
		}
		return ap.Tracker.Status(n.Name), on
	}, func() { ap.Close() }, nil
}

// changeRoles rewrites a node's roles in the site file, after asking.
func (a *app) changeRoles(f *rolloutFlags, node string, roles []string) error {
	if f.dryRun {
		fmt.Fprintf(a.stdout, "would set %s's roles to %s in %s\n", node, strings.Join(roles, ","), a.site)
		return nil
	}
	if !f.yes && !a.confirm(fmt.Sprintf("set %s's roles to %s in %s?", node, strings.Join(roles, ","), a.site)) {
		return exitError{code: 1, msg: "not confirmed; nothing done"}
	}
	old, err := provision.SetNodeRoles(a.site, node, roles)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: %s's roles are now %s (was: %s)\n", a.site, node, strings.Join(roles, ","), strings.TrimSpace(old))
	return nil
}
