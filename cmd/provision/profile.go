package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/handoff"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

func (a *app) profileCmd() *cobra.Command {
	var (
		local, dryRun bool
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "profile NODE",
		Short: "Apply a node's role profile again (over SSH, or locally on the appliance)",
		Long: `profile renders NODE's role profile (its configuration files and apply.sh) and
applies it as the rollout's handoff does: it connects to the node's sshd on
the management network, verifies the host key generated for the node, logs
in as root with the appliance's key, uploads the bundle over SFTP and runs
apply.sh, printing its output. apply.sh is idempotent: running it again
changes only what differs from the plan.

--local applies the appliance node's own profile (` + "`provision profile admin01 --local`" + `) on
this host, as root. --dry-run prints what would be done and changes nothing:
the files with their modes and owners (and, with --local, which differ from
this host's), the packages and the services.

The generated secrets and the OpenVPN PKI live in the state directory
(--state) and are made there on first use. Events (ssh-up, profile-output,
applied, failed) are recorded in the state store, so 'provision serve'
must not be running.`,
		Example: `  provision profile controller02
  provision profile admin01 --local --dry-run
  provision profile admin01 --local`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, secrets, err := a.loadPlanSecrets()
			if err != nil {
				return err
			}
			n, ok := plan.Node(args[0])
			if !ok {
				return fmt.Errorf("node %q is not in %s", args[0], a.site)
			}
			if local && !n.Appliance {
				return fmt.Errorf("node %s: --local applies the appliance's own profile (%s) only", n.Name, plan.Site.Appliance)
			}
			if !local && n.Appliance {
				return fmt.Errorf("node %s is the appliance's own host: apply it with --local", n.Name)
			}
			b, err := a.renderBundle(plan, secrets, n)
			if err != nil {
				return err
			}
			switch {
			case local && dryRun:
				return a.dryRunLocal(b)
			case local:
				if _, err := lab.Load(a.state); err == nil {
					return errors.New("a lab is up on this state: its appliance is a namespace of this machine, and --local would install the appliance's packages and files on this machine itself (--dry-run shows them)")
				}
				return a.applyLocal(cmd.Context(), b)
			case dryRun:
				return a.dryRunRemote(n, b)
			}
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err // a lab's nodes are reachable only from its appliance namespace
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return a.applyRemote(ctx, n, b)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&local, "local", false, "apply the appliance node's profile on this host")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be done; change nothing")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "give up when the node has not answered or applied by then")
	return cmd
}

// renderBundle renders a node's bundle with the inputs kept in the state
// directory.
func (a *app) renderBundle(plan *provision.Plan, secrets *provision.Secrets, n *provision.NodePlan) (profiles.Bundle, error) {
	var extra map[string]provision.Secret
	if secrets != nil {
		extra = secrets.Extra
	}
	in, err := profiles.LoadInputs(a.state, plan, extra, time.Now())
	if err != nil {
		return profiles.Bundle{}, fmt.Errorf("state %s: %w", a.state, err)
	}
	r, err := profiles.NewRenderer()
	if err != nil {
		return profiles.Bundle{}, err
	}
	return r.Render(plan, n, in)
}

// writeBundle writes a bundle's tree under dir (0700): apply.sh and
// files/..., secrets 0600. It renders nothing: the bundle is whole.
func writeBundle(dir string, b profiles.Bundle) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	var paths []string
	for _, f := range b.Tree() {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		if err := writeFileAtomic(p, f.Data, f.Mode); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func (a *app) dryRunLocal(b profiles.Bundle) error {
	w := a.stdout
	fmt.Fprintf(w, "would apply the profile of %s (%s) on this host:\n", b.Node, strings.Join(b.Roles, ", "))
	for _, f := range b.Files {
		state := "new"
		if cur, err := os.ReadFile(f.Path); err == nil {
			state = "changed"
			if bytes.Equal(cur, f.Data) {
				state = "unchanged"
			}
		}
		fmt.Fprintf(w, "  %-9s %04o %-12s %s%s\n", state, f.Mode, owner(f), f.Path, secretMark(f))
	}
	printApplySteps(w, b)
	return nil
}

func (a *app) dryRunRemote(n *provision.NodePlan, b profiles.Bundle) error {
	keys, err := hostkeys.Open(a.state)
	if err != nil {
		return fmt.Errorf("state %s: %w", a.state, err)
	}
	pairs, err := keys.HostKeys(n.Name)
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "would connect to root@%s:22 and accept only these host keys:\n", n.PXE.Address)
	for _, p := range pairs {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(p.Public))
		if err != nil {
			return fmt.Errorf("node %s: host key %s: %w", n.Name, p.Type, err)
		}
		fmt.Fprintf(w, "  %s %s\n", pk.Type(), ssh.FingerprintSHA256(pk))
	}
	fmt.Fprintf(w, "would upload %d files and run apply.sh (%s):\n", len(b.Files)+1, strings.Join(b.Roles, ", "))
	for _, f := range b.Files {
		fmt.Fprintf(w, "  %04o %-12s %s%s\n", f.Mode, owner(f), f.Path, secretMark(f))
	}
	printApplySteps(w, b)
	return nil
}

// printApplySteps lists the packages and services lines of apply.sh.
func printApplySteps(w io.Writer, b profiles.Bundle) {
	for _, line := range strings.Split(string(b.Apply), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "pkgs ") || strings.HasPrefix(t, "svc ") || strings.HasPrefix(t, "standby ") {
			fmt.Fprintf(w, "  %s\n", t)
		}
	}
}

func owner(f profiles.File) string {
	if f.Owner == "" {
		return "root:root"
	}
	return f.Owner
}

func secretMark(f profiles.File) string {
	if f.Secret {
		return "  [secret]"
	}
	return ""
}

// applyLocal writes the bundle under the state directory and runs its
// apply.sh here, its output to ours.
func (a *app) applyLocal(ctx context.Context, b profiles.Bundle) error {
	if os.Geteuid() != 0 {
		return errors.New("--local installs packages and files: run it as root (or try --dry-run)")
	}
	dir := filepath.Join(a.state, "profile", b.Node)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := writeBundle(dir, b); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "/bin/bash", filepath.Join(dir, profiles.ApplyName))
	c.Dir = dir
	c.Stdout, c.Stderr = a.stdout, a.stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("node %s: apply.sh: %w", b.Node, err)
	}
	return nil
}

// applyRemote runs the handoff against the node, recording its events in
// the state store and printing apply.sh's output.
func (a *app) applyRemote(ctx context.Context, n *provision.NodePlan, b profiles.Bundle) error {
	keys, err := hostkeys.Open(a.state)
	if err != nil {
		return fmt.Errorf("state %s: %w", a.state, err)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	sink := func(e provision.Event) {
		if e.Kind == handoff.KindOutput {
			fmt.Fprintf(a.stdout, "%s: %s\n", e.Node, e.Msg)
		}
		if _, err := st.Append(e); err != nil {
			a.log.Error("record event", "node", e.Node, "kind", e.Kind, "err", err)
		}
	}
	cfg := handoff.Config{Keys: keys, Events: sink, Log: a.log}
	if rec, err := lab.Load(a.state); err == nil && a.getenv(labInsideEnv) == rec.Appliance {
		// A simulated node: its profile is checked as the lab's
		// rollouts check it, not run on this machine's file system.
		cfg = appliance.LabHandoff(cfg, lab.Dir(a.state))
	}
	return handoff.Run(ctx, n, b, cfg)
}
