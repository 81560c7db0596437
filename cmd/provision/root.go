package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// exitError ends the program with a given status; msg, when set, is
// printed to stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

// app is what every subcommand shares: the streams, the environment and
// the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	site           string // --site
	state          string // --state
	verbose        bool
	log            *slog.Logger
	args           []string // as run was given them
}

const (
	defaultSite  = "/etc/provision/site.toml"
	defaultState = "/var/lib/provision"
)

// run executes the CLI with args (without the program name). Tests call it
// in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, args: args}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "provision",
		Short: "Bare-metal provisioning of an OpenStack HA cloud from its site inventory",
		Long: `provision runs on the management node (admin01) of a private cloud. From a site
inventory (a TOML file) it serves DHCP, TFTP and HTTP for PXE, renders each node's
CentOS 6.5 kickstart, drives each node's iDRAC over Redfish, tracks every install
and hands the node to its role profile: power on a rack and walk away.

The site file is --site, else $PROVISION_SITE, else ` + defaultSite + `.
State (node events, discovered MACs, pinned certificates) lives in --state,
else $PROVISION_STATE, else ` + defaultState + `.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.resolveGlobals()
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.site, "site", "", "site inventory file (default $PROVISION_SITE, then "+defaultSite+")")
	pf.StringVar(&a.state, "state", "", "state directory (default $PROVISION_STATE, then "+defaultState+")")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log debug messages")
	_ = root.MarkPersistentFlagFilename("site", "toml")
	_ = root.MarkPersistentFlagDirname("state")

	root.AddCommand(
		a.checkCmd(),
		a.planCmd(),
		a.netbootCmd(),
		a.bmcCmd(),
		a.bmcSimCmd(),
		a.imagesCmd(),
		a.renderCmd(),
		a.lintCmd(),
		a.dhcpCmd(),
		a.discoveredCmd(),
		a.profileCmd(),
		a.vpnCmd(),
		a.serveCmd(),
		a.upCmd(),
		a.roleCmd(),
		a.rebuildCmd(),
		a.statusCmd(),
		a.logsCmd(),
		a.labCmd(),
		a.versionCmd(),
	)
	root.CompletionOptions.HiddenDefaultCmd = false
	return root
}

// resolveGlobals fills --site and --state from the environment or the
// defaults, and sets up logging to stderr.
func (a *app) resolveGlobals() {
	if a.site == "" {
		a.site = a.getenv("PROVISION_SITE")
	}
	if a.site == "" {
		a.site = defaultSite
	}
	if a.state == "" {
		a.state = a.getenv("PROVISION_STATE")
	}
	if a.state == "" {
		a.state = defaultState
	}
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// loadSitePlan loads the site (with its secrets) and builds its plan. It
// prints every problem and fails on errors.
func (a *app) loadSitePlan() (*provision.Site, *provision.Plan, error) {
	site, probs := provision.Load(a.site)
	var plan *provision.Plan
	if site != nil {
		var more provision.Problems
		plan, more = provision.Build(site, provision.Options{})
		probs = append(probs, more...)
	}
	if errs := probs.Errors(); len(errs) > 0 || site == nil {
		for _, p := range probs {
			fmt.Fprintln(a.stderr, p.Error())
		}
		return nil, nil, exitError{code: 1, msg: fmt.Sprintf("%s: %d errors; run 'provision check' for the full report", a.site, len(errs))}
	}
	return site, plan, nil
}

// loadSite loads the site file and its secrets, or says why not.
func (a *app) loadSite() (*provision.Site, error) {
	site, _, err := a.loadSitePlan()
	return site, err
}

// loadPlan loads the site and builds its plan, or says why not.
func (a *app) loadPlan() (*provision.Plan, error) {
	_, plan, err := a.loadSitePlan()
	return plan, err
}
