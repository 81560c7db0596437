package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/provision/provision/internal/bmc"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// bmcFlags are the flags every bmc subcommand shares.
type bmcFlags struct {
	all          bool
	insecure     bool
	ca           string
	asJSON       bool
	endpoint     string // an iDRAC not in the inventory
	user         string
	passwordFile string
	endpoints    string // JSON file of node -> endpoint overrides
	basicAuth    bool
	timeout      time.Duration
	parallel     int
}

// bmcTarget is one iDRAC to act on.
type bmcTarget struct {
	node *provision.NodePlan // nil for --endpoint
	cfg  bmc.Config
}

func (a *app) bmcCmd() *cobra.Command {
	f := &bmcFlags{}
	cmd := &cobra.Command{
		Use:   "bmc",
		Short: "Drive the nodes' iDRACs over Redfish: status, MAC discovery, PXE, power, preflight",
		Long: `bmc talks to each node's iDRAC over Redfish (HTTPS). The endpoint comes from the
site file, the credentials from its secrets file. Every action is recorded as an
event of the node in the state.

The iDRAC's certificate is verified against the fingerprint pinned with
'provision bmc trust NODE' (trust on first use), or against --ca FILE. --insecure
skips verification, and says so on every run.

For an iDRAC not in the inventory yet: --endpoint https://HOST[:PORT] --user U
--password-file F. --endpoints FILE (or $PROVISION_BMC_ENDPOINTS) maps node names
to endpoints as JSON, for simulated iDRACs ('provision bmc-sim').`,
		Example: `  provision bmc trust --all
  provision bmc preflight --all
  provision bmc discover compute01 compute02
  provision bmc pxe compute01 && provision bmc power cycle compute01
  provision bmc status --endpoint https://10.0.1.99 --user root --password-file pw --insecure`,
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.all, "all", false, "every node of the site (the appliance is never powered or set to PXE)")
	pf.BoolVar(&f.insecure, "insecure", false, "do not verify the iDRAC certificate (said on every run)")
	pf.StringVar(&f.ca, "ca", "", "verify iDRAC certificates against the PEM `FILE`")
	pf.BoolVar(&f.asJSON, "json", false, "print results as JSON")
	pf.StringVar(&f.endpoint, "endpoint", "", "an iDRAC not in the inventory: https://HOST[:PORT]")
	pf.StringVar(&f.user, "user", "root", "user for --endpoint")
	pf.StringVar(&f.passwordFile, "password-file", "", "`FILE` holding the password for --endpoint")
	pf.StringVar(&f.endpoints, "endpoints", "", "JSON `FILE` mapping node names to endpoints (default $PROVISION_BMC_ENDPOINTS)")
	pf.BoolVar(&f.basicAuth, "basic-auth", false, "use HTTP Basic authentication instead of a Redfish session")
	pf.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	pf.IntVar(&f.parallel, "parallel", 8, "iDRACs talked to at once")
	cmd.AddCommand(
		a.bmcVerb(f, "status", "Show model, service tag, firmware, power state, boot override and health", a.bmcStatus),
		a.bmcVerb(f, "discover", "Read the NICs' MACs by Redfish id and record them", a.bmcDiscover),
		a.bmcVerb(f, "pxe", "Set a one-time PXE boot (the boot mode is written only when it must change)", a.bmcPXE),
		a.bmcPowerCmd(f),
		a.bmcTrustCmd(f),
		a.bmcVerb(f, "preflight", "Check every iDRAC before a rollout, as a table", a.bmcPreflight),
	)
	return cmd
}

// bmcRun is one verb: it gets the state and the targets.
type bmcRun func(ctx context.Context, f *bmcFlags, st *store.Store, ts []bmcTarget) error

func (a *app) bmcVerb(f *bmcFlags, name, short string, fn bmcRun) *cobra.Command {
	return &cobra.Command{
		Use:               name + " [NODE...]",
		Short:             short,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bmcDo(cmd.Context(), f, args, name == "pxe", name, fn)
		},
	}
}

func (a *app) bmcPowerCmd(f *bmcFlags) *cobra.Command {
	return &cobra.Command{
		Use:       "power on|off|shutdown|cycle [NODE...]",
		Short:     "Power nodes on, off (forced), shut down gracefully, or cycle; wait for the state",
		Args:      cobra.MinimumNArgs(1),
		ValidArgs: []string{"on", "off", "shutdown", "cycle"},
		RunE: func(cmd *cobra.Command, args []string) error {
			action, err := bmc.ParseAction(args[0])
			if err != nil {
				return err
			}
			return a.bmcDo(cmd.Context(), f, args[1:], true, "power-"+string(action), func(ctx context.Context, f *bmcFlags, st *store.Store, ts []bmcTarget) error {
				return a.bmcEach(ctx, f, ts, bmcWithClient(func(ctx context.Context, t bmcTarget, c *bmc.Client) (string, error) {
					if err := c.Power(ctx, action); err != nil {
						return "", err
					}
					return fmt.Sprintf("%s: power %s done", c.Node(), action), nil
				}))
			})
		},
	}
}

// bmcDo resolves the targets, opens the state and runs fn. changes says
// whether fn changes a server: the appliance is then left out.
// remote names the verb for provision serve's API (pxe, discover,
// power-cycle) when serve holds the state.
func (a *app) bmcDo(ctx context.Context, f *bmcFlags, args []string, changes bool, remote string, fn bmcRun) error {
	if inLab, err := a.intoLab(ctx); inLab {
		return err // the iDRACs of a lab are reachable only from its appliance namespace
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if f.insecure {
		fmt.Fprintln(a.stderr, "WARNING: --insecure: iDRAC certificates are NOT verified; the credentials can be read by anyone on the path")
	}
	st, err := store.Open(a.state, 5*time.Second)
	if errors.Is(err, store.ErrLocked) {
		if c, cerr := a.controlClient(); cerr == nil {
			return a.remoteBMC(ctx, c, f, args, remote)
		}
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", a.state, err)
	}
	defer st.Close()
	ts, err := a.bmcTargets(f, args, changes, st)
	if err != nil {
		return err
	}
	return fn(ctx, f, st, ts)
}

// bmcTargets builds a client config for each named node (or every node,
// or the one --endpoint).
func (a *app) bmcTargets(f *bmcFlags, args []string, changes bool, st *store.Store) ([]bmcTarget, error) {
	sink := func(e provision.Event) {
		if _, err := st.Append(e); err != nil {
			a.log.Warn("event not recorded", "node", e.Node, "err", err)
		}
	}
	base := func(node, endpoint string) (bmc.Config, error) {
		pin, err := st.PinOf(node)
		if err != nil {
			return bmc.Config{}, fmt.Errorf("state: pin of %s: %w", node, err)
		}
		return bmc.Config{Node: node, Endpoint: endpoint, Pin: pin, CAFile: f.ca, Insecure: f.insecure && pin == "" && f.ca == "",
			Sessions: !f.basicAuth, Events: sink, Log: a.log}, nil
	}
	if f.endpoint != "" {
		if f.passwordFile == "" {
			return nil, errors.New("--endpoint needs --password-file")
		}
		pw, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		node := f.endpoint
		if len(args) == 1 {
			node = args[0]
		}
		cfg, err := base(node, f.endpoint)
		if err != nil {
			return nil, err
		}
		cfg.User, cfg.Password = f.user, provision.NewSecret(strings.TrimRight(string(pw), "\r\n"))
		return []bmcTarget{{cfg: cfg}}, nil
	}
	if len(args) == 0 && !f.all {
		return nil, errors.New("name the nodes, or --all")
	}
	site, plan, err := a.loadSitePlan()
	if err != nil {
		return nil, err
	}
	overrides, err := a.bmcEndpoints(f)
	if err != nil {
		return nil, err
	}
	nodes, err := selectNodes(plan, args)
	if err != nil {
		return nil, err
	}
	var ts []bmcTarget
	for _, n := range nodes {
		if n.Appliance && changes {
			if len(args) > 0 {
				return nil, fmt.Errorf("%s is the appliance: it is never powered or PXE-booted by provision", n.Name)
			}
			continue
		}
		endpoint := n.IDRAC.Endpoint
		if o, ok := overrides[n.Name]; ok {
			endpoint = o
		}
		if endpoint == "" {
			return nil, fmt.Errorf("%s: no iDRAC endpoint in the plan", n.Name)
		}
		cfg, err := base(n.Name, endpoint)
		if err != nil {
			return nil, err
		}
		cred := site.Secrets.IDRACFor(n.Name)
		if cred.User == "" || cred.Password.IsZero() {
			return nil, fmt.Errorf("%s: no iDRAC credentials in the secrets file", n.Name)
		}
		cfg.User, cfg.Password = cred.User, cred.Password
		ts = append(ts, bmcTarget{node: n, cfg: cfg})
	}
	return ts, nil
}

// bmcEndpoints reads the node -> endpoint overrides.
func (a *app) bmcEndpoints(f *bmcFlags) (map[string]string, error) {
	file := f.endpoints
	if file == "" {
		file = a.getenv("PROVISION_BMC_ENDPOINTS")
	}
	if file == "" {
		if p := filepath.Join(a.state, labEndpoints); fileExists(p) {
			file = p
		}
	}
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("endpoints %s: want a JSON object of node names to https URLs: %w", file, err)
	}
	return m, nil
}

// bmcEach runs fn for every target, f.parallel at a time, printing each
// line as it comes; it returns the failures joined.
func (a *app) bmcEach(ctx context.Context, f *bmcFlags, ts []bmcTarget, fn func(context.Context, bmcTarget) (string, error)) error {
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, max(f.parallel, 1))
	var wg sync.WaitGroup
	for _, t := range ts {
		// Each goroutine ends when its node is done.
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			line, err := fn(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				fmt.Fprintf(a.stderr, "%s: FAILED: %v\n", t.cfg.Node, err)
				return
			}
			if line != "" {
				fmt.Fprintln(a.stdout, line)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d iDRACs failed", len(errs), len(ts))}
	}
	return nil
}

// withClient adapts a function of a client to bmcEach.
func bmcWithClient(fn func(context.Context, bmcTarget, *bmc.Client) (string, error)) func(context.Context, bmcTarget) (string, error) {
	return func(ctx context.Context, t bmcTarget) (string, error) {
		c, err := bmc.New(t.cfg)
		if err != nil {
			return "", err
		}
		return fn(ctx, t, c)
	}
}
