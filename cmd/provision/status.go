package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	var sf serveFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [NODE...]",
		Short: "Show every node's install state, or one node's timeline",
		Long: `status shows one line per node: its state (new, discovered, pxe-set,
powering-on, dhcp, booting, installing, installed, rebooting, handoff, ready,
failed), since when, its install attempt and retries, the current step (the
last event that moved it) and, for a failed node, why. It also points out an
install started by hand (netboot on and the node powered with no rollout:
'provision up' hands it off) and a ready node whose netboot is on (its next
network boot reinstalls it).

With one NODE it also shows the node's timeline: every event of its current
install (DHCP lease, TFTP transfers, boot script, kickstart, %pre/%post
reports, callbacks, SSH, profile output), each with its time.

States are folded from the nodes' events in the state directory; while
'provision serve' holds it, status asks serve.`,
		Example: `  provision status
  provision status compute05
  provision status --json | jq '.[] | select(.state == "failed")'`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err // serve's API in a lab is reachable only from its appliance namespace
			}
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			nodes, err := selectNodes(plan, args)
			if err != nil {
				return err
			}
			statusOf, done, err := a.statuses(cmd.Context(), &sf)
			if err != nil {
				return err
			}
			var list []provision.Status
			netboot := map[string]bool{}
			for _, n := range nodes {
				st, on := statusOf(n)
				list = append(list, st)
				netboot[n.Name] = on
			}
			done()
			if asJSON {
				type row struct {
					provision.Status
					// Netboot says whether the node's next network boot
					// installs it.
					Netboot bool `json:"netboot"`
				}
				rows := make([]row, 0, len(list))
				for _, st := range list {
					rows = append(rows, row{st, netboot[st.Node]})
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			a.printStatuses(list, netboot)
			if len(args) == 1 {
				return a.printTimeline(args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the statuses as JSON, each with its node's netboot flag")
	return cmd
}

// printStatuses prints a line per node; netboot says whose next network
// boot installs them, which a ready node's line points out.
func (a *app) printStatuses(list []provision.Status, netboot map[string]bool) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tSINCE\tATTEMPT\tRETRIES\tSTEP\tREASON")
	count := map[provision.State]int{}
	for _, st := range list {
		count[st.State]++
		since := "-"
		if !st.Since.IsZero() {
			since = st.Since.Local().Format(time.DateTime)
		}
		step := "-"
		if st.Last.Kind != "" {
			step = st.Last.Source + "/" + st.Last.Kind
		}
		reason := st.Reason
		switch {
		case st.ByHand && st.State.Busy():
			reason = "install started by hand (netboot on, no rollout): provision up hands it off"
		case st.State == provision.StateReady && netboot[st.Node]:
			reason = "netboot on: its next network boot reinstalls it"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", st.Node, st.State, since, st.Attempt, st.Retries, step, reason)
	}
	tw.Flush()
	var parts []string
	for _, s := range provision.States() {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	fmt.Fprintf(a.stdout, "%d nodes: %s\n", len(list), strings.Join(parts, ", "))
}

// printTimeline prints a node's events since its current install began.
func (a *app) printTimeline(node string) error {
	st, err := store.Open(a.state, 500*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintln(a.stdout, "\n(the timeline is in the state that 'provision serve' holds: see its API, /api/v1/nodes/"+node+")")
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.Events(store.Filter{Node: node})
	if err != nil {
		return err
	}
	start := 0
	for i, e := range evs {
		if (e.Kind == provision.KindBegin && e.Source == provision.SourceRollout) || e.Kind == provision.KindForget {
			start = i
		}
	}
	fmt.Fprintf(a.stdout, "\ntimeline of %s (%d events):\n", node, len(evs)-start)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, e := range evs[start:] {
		detail := e.Msg
		if e.IP != "" {
			detail = strings.TrimSpace(e.IP + " " + detail)
		}
		if f := e.Attrs["file"]; f != "" {
			detail = strings.TrimSpace(detail + " " + f)
		}
		fmt.Fprintf(tw, "  %s\t%s/%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.Source, e.Kind, detail)
	}
	return tw.Flush()
}
