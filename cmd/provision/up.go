package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// rolloutFlags tune a rollout; up, role and rebuild share them.
type rolloutFlags struct {
	serve     serveFlags
	yes       bool
	dryRun    bool
	global    int
	perRack   int
	perRole   int
	stagger   time.Duration
	retries   int
	dhcpWait  time.Duration
	install   time.Duration
	handoff   time.Duration
	noServers bool
}

func (f *rolloutFlags) register(cmd *cobra.Command) {
	f.serve.register(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show what would be done, do nothing")
	fl.IntVar(&f.global, "concurrency", 10, "nodes installing at once")
	fl.IntVar(&f.perRack, "per-rack", 0, "nodes installing at once in one rack (0: no limit)")
	fl.IntVar(&f.perRole, "per-role", 0, "nodes installing at once with one role (0: no limit)")
	fl.DurationVar(&f.stagger, "stagger", 2*time.Second, "pause between two power-ons (PSU inrush)")
	fl.IntVar(&f.retries, "retries", 2, "install attempts after the first before a node is failed")
	fl.DurationVar(&f.dhcpWait, "dhcp-timeout", 5*time.Minute, "power-on to first DHCP request, else PXE and power-cycle again")
	fl.DurationVar(&f.install, "install-timeout", 60*time.Minute, "first DHCP request to the installed callback, else retry")
	fl.DurationVar(&f.handoff, "handoff-timeout", 30*time.Minute, "installed to ready")
	fl.BoolVar(&f.noServers, "no-servers", false, "do not run DHCP, TFTP and HTTP here (they run elsewhere)")
}

func (f *rolloutFlags) tuning() appliance.Tuning {
	return appliance.Tuning{
		Limits:   rollout.Limits{Global: f.global, PerRack: f.perRack, PerRole: f.perRole, Stagger: f.stagger},
		Timeouts: rollout.Deadlines{DHCP: f.dhcpWait, Install: f.install, Handoff: f.handoff},
		Retries:  f.retries,
	}
}

func (a *app) upCmd() *cobra.Command {
	var f rolloutFlags
	var roles []string
	cmd := &cobra.Command{
		Use:   "up [NODE...]",
		Short: "Install the site's nodes, unattended, in rollout order",
		Long: `up installs nodes from bare metal: it shows what will be powered, in which
order and which disks will be wiped, asks (or --yes), then runs unattended.

Order: load balancers; the first controller, then the others (so Galera and
RabbitMQ form); network and storage; compute. Later stages wait for the load
balancers and controllers; a failed controller blocks what depends on it,
while unrelated nodes go on. admin01, the appliance's own host, is never
powered.

For each node: read its MACs over the iDRAC (when the site file has none),
turn its netboot on, set a one-time PXE boot, power-cycle it, then follow it
through DHCP, boot, kickstart and the installed callback. No DHCP within
--dhcp-timeout or no callback within --install-timeout: PXE and power-cycle
again, up to --retries times, then the node is failed with the reason and its
netboot turned off.

Ready nodes are skipped; nodes caught mid-install (the appliance restarted)
are resumed, never installed twice. Runs DHCP, TFTP and HTTP in-process unless
--no-servers.`,
		Example: `  provision up --site sites/paper.toml --yes
  provision up --role compute
  provision up --dry-run compute05 compute06`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err
			}
			return a.rollout(cmd.Context(), &f, appliance.RolloutRequest{Nodes: args, Roles: roles}, "install")
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&roles, "role", nil, "install the nodes of `ROLE` (repeatable)")
	return cmd
}

// rollout shows, confirms and runs a rollout of the selected nodes: in
// this process, or, when `provision serve` holds the state, through its
// API.
func (a *app) rollout(ctx context.Context, f *rolloutFlags, req appliance.RolloutRequest, verb string) error {
	req.Tuning = f.tuning()
	if isTerminal(a.stdout) && !a.verbose {
		// The live view owns the terminal: only warnings interrupt it.
		a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ap, err := a.openAppliance(&f.serve)
	if errors.Is(err, store.ErrLocked) {
		if c, cerr := a.controlClient(); cerr == nil {
			return a.remoteRollout(ctx, c, f, req, verb)
		}
	}
	if err != nil {
		return err
	}
	defer ap.Close()
	plan := ap.Plan()
	nodes, err := provision.SelectRollout(plan, req.Roles, req.Nodes)
	if err != nil {
		return err
	}
	if req.Reinstall && !req.Forget {
		if err := provision.CheckQuorum(plan, ap.Tracker.All(), req.Nodes); err != nil {
			if !req.Force {
				return fmt.Errorf("%w (--force to do it anyway)", err)
			}
			fmt.Fprintf(a.stderr, "WARNING: --force: %v\n", err)
		}
	}
	if ok, err := a.confirmRollout(f, plan, nodes, ap.Tracker.Status, req, verb); !ok {
		if f.dryRun && err == nil {
			return a.printActions(ap.Site(), plan, nodes, ap.Tracker.Status, req)
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waitServers := func() error { return nil }
	if !f.noServers {
		srv, err := ap.Servers()
		if err != nil {
			return err
		}
		// The servers run until ctx is cancelled below.
		if waitServers, err = srv.Start(ctx); err != nil {
			return err
		}
	}
	progress := ap.Tracker.Subscribe(ctx, 1024)
	done := make(chan struct{})
	go func() { // ends when progress is closed (ctx cancelled)
		defer close(done)
		a.follow(progress, nodes)
	}()
	start := time.Now()
	results := ap.RunRollout(ctx, nodes, req)
	cancel()
	<-done
	if err := waitServers(); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error("servers", "err", err)
	}
	return a.summary(results, time.Since(start))
}

// confirmRollout shows the rollout and asks. It says whether to go on,
// and why not when that is an error.
func (a *app) confirmRollout(f *rolloutFlags, plan *provision.Plan, nodes []*provision.NodePlan,
	status func(string) provision.Status, req appliance.RolloutRequest, verb string) (bool, error) {
	opt := rollout.Options{Reinstall: req.Reinstall}
	todo := a.showRollout(plan, status, nodes, opt, verb)
	if f.dryRun || todo == 0 {
		if todo == 0 {
			fmt.Fprintln(a.stdout, "nothing to do: every node is ready")
		}
		return false, nil
	}
	if !f.yes && !a.confirm(fmt.Sprintf("%s %d nodes, wiping the disks listed above?", verb, todo)) {
		return false, exitError{code: 1, msg: "not confirmed; nothing done"}
	}
	return true, nil
}

// showRollout prints the rollout and returns how many nodes it touches.
func (a *app) showRollout(plan *provision.Plan, status func(string) provision.Status, nodes []*provision.NodePlan, opt rollout.Options, verb string) int {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "STAGE\tNODE\tROLES\tSTATE\tACTION\tWIPES\n")
	todo := 0
	for _, n := range nodes {
		st := status(n.Name)
		action := verb
		switch {
		case st.State == provision.StateReady && !opt.Reinstall:
			action = "skip (ready)"
		case st.State.Busy() && !opt.Reinstall:
			action = "resume from " + string(st.State)
		}
		if !strings.HasPrefix(action, "skip") {
			todo++
		}
		wipes := strings.Join(provision.Wipes(n), "; ")
		if strings.HasPrefix(action, "skip") || strings.HasPrefix(action, "resume") {
			wipes = "-"
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%s\t%s\t%s\t%s\n", n.Stage, stageOf(plan, n.Stage), n.Name, strings.Join(n.Roles, ","), st.State, action, wipes)
	}
	tw.Flush()
	return todo
}

func stageOf(plan *provision.Plan, stage int) string {
	for _, s := range plan.Stages {
		if s.Stage == stage {
			return s.Name
		}
	}
	return ""
}

// confirm asks a yes/no question on stdin.
func (a *app) confirm(q string) bool {
	fmt.Fprintf(a.stdout, "%s [yes/no] ", q)
	// One byte at a time: a second question reads the next line.
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := a.stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return false
			}
			break
		}
	}
	return strings.TrimSpace(strings.ToLower(string(line))) == "yes"
}

// printProgress prints each state change of a node as it happens.
func (a *app) printProgress(updates <-chan tracker.Update) {
	last := map[string]provision.State{}
	for u := range updates {
		e, st := u.Event, u.Status
		if e.Node == "" {
			continue
		}
		if last[e.Node] == st.State {
			continue
		}
		last[e.Node] = st.State
		detail := e.Source + "/" + e.Kind
		if e.IP != "" {
			detail += " " + e.IP
		}
		if st.State == provision.StateFailed && st.Reason != "" {
			detail = st.Reason
		}
		fmt.Fprintf(a.stdout, "%s  %-16s %-12s %s\n", e.Time.Local().Format("15:04:05"), e.Node, st.State, detail)
	}
}

// summary prints how each node ended; failures make the exit status 1.
func (a *app) summary(results []rollout.Result, took time.Duration) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nNODE\tSTATE\tATTEMPTS\tTIME\tREASON\n")
	failed := 0
	for _, r := range results {
		if r.State != provision.StateReady {
			failed++
		}
		how := r.Duration.Round(time.Millisecond).String()
		if r.Skipped {
			how = "skipped"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Node, r.State, r.Attempts, how, r.Reason)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "%d nodes, %d ready, %d not, in %s\n", len(results), len(results)-failed, failed, took.Round(time.Millisecond))
	if failed > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d nodes did not become ready", failed, len(results))}
	}
	return nil
}
