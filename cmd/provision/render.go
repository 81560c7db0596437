package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) renderCmd() *cobra.Command {
	var (
		outDir      string
		all         bool
		showSecrets bool
	)
	cmd := &cobra.Command{
		Use:   "render [kickstart] [NODE...]",
		Short: "Render nodes' CentOS 6.5 kickstarts and installer kernel arguments",
		Long: `render renders what the appliance serves a node when it installs: its CentOS 6.5
kickstart (the same bytes the HTTP server hands it) and the installer's kernel
arguments (ks URL, ksdevice=bootif, BOOTIF, ip=, console) that boot configs use.
Every kickstart is linted (see 'provision lint') before it is printed or written;
a kickstart with a problem is an error.

With one NODE and no --out, the kickstart is printed to stdout with the root
password hash, the private host keys and the callback token replaced by
[redacted]; --show-secrets prints them.

With --out DIR, each node's NODE.ks, NODE.cmdline and its boot configs
(NODE.ipxe, NODE.pxelinux, as served while its netboot is on) are written to
DIR, the kickstarts whole (secrets included, as the node needs them), mode 0600 in a
directory of mode 0700. With --out and no NODE, or with --all, every node the
appliance installs is rendered (the appliance node itself never is).

A node's SSH host keys and its callback token come from the state directory
(--state); keys that do not exist yet are generated there, so the SSH handoff
can later verify the node. The word "kickstart" before the nodes is optional.

Exit status: 0 when every kickstart rendered and linted clean, 1 otherwise.`,
		Example: `  provision render compute01
  provision render kickstart compute01 --show-secrets > compute01.ks
  provision render --out /srv/provision/ks
  provision render -o /tmp/ks swiftstorage01 swiftstorage02`,
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, secrets, err := a.loadPlanSecrets()
			if err != nil {
				return err
			}
			if len(args) > 0 && args[0] == "kickstart" {
				if _, isNode := plan.Node("kickstart"); !isNode {
					args = args[1:]
				}
			}
			nodes, err := renderTargets(plan, args, all || (outDir != "" && len(args) == 0))
			if err != nil {
				return err
			}
			store, err := hostkeys.Open(a.state)
			if err != nil {
				return fmt.Errorf("state %s: %w", a.state, err)
			}
			r := renderer{app: a, cmd: cmd, plan: plan, secrets: secrets, store: store}
			if outDir == "" {
				if len(nodes) != 1 {
					return fmt.Errorf("%d nodes and no --out: name one node to print, or write them with --out DIR", len(nodes))
				}
				return r.print(nodes[0], showSecrets)
			}
			if showSecrets {
				return errors.New("--show-secrets is for printing: files written with --out always hold the secrets")
			}
			return r.write(outDir, nodes)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&outDir, "out", "o", "", "write each node's kickstart, kernel arguments and boot configs to `DIR`")
	f.BoolVar(&all, "all", false, "render every node the appliance installs")
	f.BoolVar(&showSecrets, "show-secrets", false, "print the root hash, private host keys and token instead of [redacted]")
	_ = cmd.MarkFlagDirname("out")
	cmd.AddCommand(a.renderProfileCmd()) // provision render profile NODE --out DIR
	return cmd
}

// renderTargets resolves node names, or every installable node.
func renderTargets(plan *provision.Plan, names []string, all bool) ([]*provision.NodePlan, error) {
	switch {
	case all && len(names) > 0:
		return nil, errors.New("--all and NODE names: give one or the other")
	case all:
		var out []*provision.NodePlan
		for _, n := range plan.Nodes {
			if !n.Appliance {
				out = append(out, n)
			}
		}
		return out, nil
	case len(names) == 0:
		return nil, errors.New("name a NODE, or use --all or --out DIR")
	}
	nodes, err := selectNodes(plan, names)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Appliance {
			return nil, fmt.Errorf("node %s: %w", n.Name, kickstart.ErrAppliance)
		}
	}
	return nodes, nil
}

// renderer renders and lints the kickstarts of one command run.
type renderer struct {
	app     *app
	cmd     *cobra.Command
	plan    *provision.Plan
	secrets *provision.Secrets
	store   *hostkeys.Store
}

// kickstart renders the node's kickstart and lints it; a kickstart with a
// problem is never printed or written.
func (r renderer) kickstart(n *provision.NodePlan, redact bool) ([]byte, error) {
	in, err := r.store.KickstartInputs(n.Name, r.secrets)
	if err != nil {
		return nil, err
	}
	in.Redact = redact
	ks, err := kickstart.Render(r.plan, n, in)
	if err != nil {
		return nil, err
	}
	probs, err := kickstart.Lint(r.cmd.Context(), n.Name+".ks", ks)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintln(r.app.stderr, p)
		}
		return nil, fmt.Errorf("node %s: the rendered kickstart has %d lint problems", n.Name, len(probs))
	}
	return ks, nil
}

func (r renderer) print(n *provision.NodePlan, showSecrets bool) error {
	ks, err := r.kickstart(n, !showSecrets)
	if err != nil {
		return err
	}
	if showSecrets {
		r.app.log.Warn("printing a kickstart with its secrets (root password hash, private host keys, callback token)", "node", n.Name)
	}
	_, err = r.cmd.OutOrStdout().Write(ks)
	return err
}

// write renders every node first and writes only when all rendered, so a
// failing node leaves no half-updated directory.
func (r renderer) write(dir string, nodes []*provision.NodePlan) error {
	type artifact struct {
		name string
		data []byte
		mode os.FileMode
	}
	var files []artifact
	var errs []error
	for _, n := range nodes {
		ks, err := r.kickstart(n, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		args, err := kickstart.KernelArgs(r.plan, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The boot configs as the servers give them while the node's
		// netboot is on, without its token (the kickstart holds it).
		ipxe, err := bootcfg.IPXE(r.plan, n, bootcfg.State{Netboot: true})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pxelinux, err := bootcfg.PXELinux(r.plan, n, bootcfg.State{Netboot: true})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files,
			artifact{n.Name + ".ks", ks, 0o600},
			artifact{n.Name + ".cmdline", []byte(strings.Join(args, " ") + "\n"), 0o644},
			artifact{n.Name + ".ipxe", ipxe, 0o644},
			artifact{n.Name + ".pxelinux", pxelinux, 0o644})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeFileAtomic(path, f.data, f.mode); err != nil {
			return err
		}
		fmt.Fprintln(r.cmd.OutOrStdout(), path)
	}
	r.app.log.Warn("kickstarts hold secrets (root password hash, private host keys, callback tokens): written mode 0600, keep them so",
		"dir", dir, "nodes", len(nodes))
	return nil
}

// writeFileAtomic writes data to path through a temp file created with
// mode 0600 (so a secret is never readable by others, even for a moment),
// then chmods it to mode and renames it into place.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	return nil
}

// loadPlanSecrets is loadPlan that also returns the site's secrets, which
// the plan does not hold.
func (a *app) loadPlanSecrets() (*provision.Plan, *provision.Secrets, error) {
	site, plan, err := a.loadSitePlan()
	if err != nil {
		return nil, nil, err
	}
	return plan, site.Secrets, nil
}
