package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/bmc"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// collect runs fn on every target and returns the results in target
// order (for tables and JSON).
func bmcCollect[T any](ctx context.Context, f *bmcFlags, ts []bmcTarget, fn func(context.Context, bmcTarget, *bmc.Client) (T, error)) ([]T, []error) {
	out := make([]T, len(ts))
	errs := make([]error, len(ts))
	sem := make(chan struct{}, max(f.parallel, 1))
	var wg sync.WaitGroup
	for i, t := range ts {
		// Each goroutine ends when its node is done.
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := bmc.New(t.cfg)
			if err != nil {
				errs[i] = err
				return
			}
			out[i], errs[i] = fn(ctx, t, c)
		})
	}
	wg.Wait()
	return out, errs
}

func (a *app) bmcPrintJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// failures prints the errors and turns them into the exit status.
func (a *app) bmcFailures(ts []bmcTarget, errs []error) error {
	n := 0
	for i, err := range errs {
		if err != nil {
			n++
			fmt.Fprintf(a.stderr, "%s: FAILED: %v\n", ts[i].cfg.Node, err)
		}
	}
	if n > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d iDRACs failed", n, len(ts))}
	}
	return nil
}

func (a *app) bmcStatus(ctx context.Context, f *bmcFlags, _ *store.Store, ts []bmcTarget) error {
	sts, errs := bmcCollect(ctx, f, ts, func(ctx context.Context, _ bmcTarget, c *bmc.Client) (bmc.Status, error) {
		return c.Status(ctx)
	})
	if f.asJSON {
		var ok []bmc.Status
		for i, s := range sts {
			if errs[i] == nil {
				ok = append(ok, s)
			}
		}
		if err := a.bmcPrintJSON(ok); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tMODEL\tTAG\tBIOS\tIDRAC\tPOWER\tBOOT OVERRIDE\tHEALTH")
		for i, s := range sts {
			if errs[i] == nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s/%s/%s\t%s\n", s.Node, s.Model, s.ServiceTag, s.BIOS, s.Firmware,
					s.Power, s.BootTarget, s.BootEnabled, s.BootMode, s.Health)
			}
		}
		tw.Flush()
	}
	return a.bmcFailures(ts, errs)
}

func (a *app) bmcDiscover(ctx context.Context, f *bmcFlags, st *store.Store, ts []bmcTarget) error {
	ds, errs := bmcCollect(ctx, f, ts, func(ctx context.Context, t bmcTarget, c *bmc.Client) (bmc.Discovery, error) {
		var nics []provision.NIC
		if t.node != nil {
			nics = t.node.Hardware.NICs
		} else {
			nics = bmcDefaultNICs()
		}
		d, err := c.Discover(ctx, nics)
		if err != nil {
			return d, err
		}
		if err := st.SetMACs(t.cfg.Node, d.MACs); err != nil {
			return d, fmt.Errorf("recording the MACs: %w", err)
		}
		return d, nil
	})
	conflicts := 0
	if f.asJSON {
		var ok []bmc.Discovery
		for i, d := range ds {
			if errs[i] == nil {
				ok = append(ok, d)
				conflicts += len(d.Conflicts)
			}
		}
		if err := a.bmcPrintJSON(ok); err != nil {
			return err
		}
	} else {
		for i, d := range ds {
			if errs[i] != nil {
				continue
			}
			names := make([]string, 0, len(d.MACs))
			for n := range d.MACs {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				fmt.Fprintf(a.stdout, "%s\t%s\t%s\n", d.Node, n, d.MACs[n])
			}
			for _, m := range d.Missing {
				fmt.Fprintf(a.stdout, "%s\t%s\tNOT REPORTED by the iDRAC\n", d.Node, m)
			}
			for _, c := range d.Conflicts {
				conflicts++
				fmt.Fprintf(a.stderr, "%s: %s: the site file says %s, the hardware says %s: fix the site file\n", d.Node, c.NIC, c.Site, c.Discovered)
			}
		}
	}
	if err := a.bmcFailures(ts, errs); err != nil {
		return err
	}
	if conflicts > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d MACs in the site file contradict the hardware", conflicts)}
	}
	return nil
}

// bmcDefaultNICs names an R620's integrated ports for an iDRAC not in the
// inventory.
func bmcDefaultNICs() []provision.NIC {
	var out []provision.NIC
	for i := 1; i <= 4; i++ {
		out = append(out, provision.NIC{Name: fmt.Sprintf("em%d", i), RedfishID: fmt.Sprintf("NIC.Integrated.1-%d-1", i)})
	}
	return out
}

// redfishBootMode turns the plan's boot mode into Redfish's.
func redfishBootMode(n *provision.NodePlan) string {
	if n == nil {
		return ""
	}
	switch n.BootMode {
	case "uefi":
		return "UEFI"
	case "bios":
		return "Legacy"
	}
	return ""
}

func (a *app) bmcPXE(ctx context.Context, f *bmcFlags, _ *store.Store, ts []bmcTarget) error {
	return a.bmcEach(ctx, f, ts, bmcWithClient(func(ctx context.Context, t bmcTarget, c *bmc.Client) (string, error) {
		if err := c.PXE(ctx, redfishBootMode(t.node)); err != nil {
			return "", err
		}
		return c.Node() + ": one-time PXE set", nil
	}))
}

func (a *app) bmcPreflight(ctx context.Context, f *bmcFlags, _ *store.Store, ts []bmcTarget) error {
	ps, errs := bmcCollect(ctx, f, ts, func(ctx context.Context, _ bmcTarget, c *bmc.Client) (bmc.Preflight, error) {
		return c.Preflight(ctx), nil
	})
	for i, err := range errs {
		// The client could not even be made (no pin, bad CA file).
		if err != nil {
			ps[i] = bmc.Preflight{Node: ts[i].cfg.Node, Endpoint: ts[i].cfg.Endpoint, Trust: "none", Problems: []string{err.Error()}}
		}
	}
	bad := 0
	for _, p := range ps {
		if !p.OK() {
			bad++
		}
	}
	if f.asJSON {
		if err := a.bmcPrintJSON(ps); err != nil {
			return err
		}
	} else {
		yes := func(b bool) string {
			if b {
				return "yes"
			}
			return "NO"
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tREACHABLE\tLOGIN\tCERTIFICATE\tFIRMWARE\tPOWER\tRESET TYPES\tPXE\tPENDING JOBS\tREADY")
		for _, p := range ps {
			ready := "yes"
			if !p.OK() {
				ready = "NO: " + strings.Join(p.Problems, "; ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", p.Node, yes(p.Reachable), yes(p.Credentials), p.Trust,
				p.Firmware, p.Power, strings.Join(p.ResetTypes, ","), yes(p.PXEWritable), len(p.PendingJobs), ready)
		}
		tw.Flush()
	}
	if bad > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d iDRACs not ready", bad, len(ps))}
	}
	return nil
}

func (a *app) bmcTrustCmd(f *bmcFlags) *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "trust [NODE...]",
		Short: "Pin each iDRAC's certificate (SHA-256) on first contact",
		Long: `trust connects to each iDRAC, reads its certificate without verifying it and
records its SHA-256 fingerprint in the state: later connections are refused when
the certificate differs. A node already pinned keeps its pin unless --replace.
Compare the printed fingerprint with the iDRAC's web interface when in doubt.`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bmcDo(cmd.Context(), f, args, false, "", func(ctx context.Context, f *bmcFlags, st *store.Store, ts []bmcTarget) error {
				return a.bmcEach(ctx, f, ts, func(ctx context.Context, t bmcTarget) (string, error) {
					return bmcTrustOne(ctx, st, t, replace)
				})
			})
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "replace an existing pin (after the iDRAC's certificate was changed on purpose)")
	return cmd
}

func bmcTrustOne(ctx context.Context, st *store.Store, t bmcTarget, replace bool) (string, error) {
	fp, err := bmc.Fingerprint(ctx, t.cfg.Endpoint, 15*time.Second)
	if err != nil {
		return "", err
	}
	old := bmc.NormalizeFingerprint(t.cfg.Pin)
	switch {
	case old == fp:
		return fmt.Sprintf("%s: already pinned sha256:%s", t.cfg.Node, fp), nil
	case old != "" && !replace:
		return "", fmt.Errorf("%w: pinned %s, the iDRAC now shows %s; use --replace if it was changed on purpose", bmc.ErrCertMismatch, old, fp)
	}
	if err := st.Pin(t.cfg.Node, fp); err != nil {
		return "", fmt.Errorf("recording the pin: %w", err)
	}
	if _, err := st.Append(provision.Event{Time: time.Now().UTC(), Node: t.cfg.Node, Source: "bmc", Kind: "bmc-trust",
		Msg: "pinned the iDRAC certificate", Attrs: map[string]string{"sha256": fp, "bmc": t.cfg.Endpoint}}); err != nil {
		return "", fmt.Errorf("recording the event: %w", err)
	}
	return fmt.Sprintf("%s: pinned sha256:%s", t.cfg.Node, fp), nil
}
