package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// renderProfileCmd is `provision render profile NODE --out DIR`.
func (a *app) renderProfileCmd() *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "profile NODE --out DIR",
		Short: "Write a node's role profile bundle (files and apply.sh) for inspection",
		Long: `render profile writes the bundle the handoff would upload to NODE: apply.sh and,
under files/, every configuration file at the path it is installed to on the
node. Files holding secrets (passwords, keys) are written mode 0600 in a
directory of mode 0700. Nothing is applied. The generated secrets and the
OpenVPN PKI come from the state directory (--state), made there on first use.`,
		Example: `  provision render profile loadbalance01 --out /tmp/lb01
  provision render profile admin01 -o /tmp/admin01`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				return fmt.Errorf("render profile: --out DIR is required")
			}
			plan, secrets, err := a.loadPlanSecrets()
			if err != nil {
				return err
			}
			n, ok := plan.Node(args[0])
			if !ok {
				return fmt.Errorf("node %q is not in %s", args[0], a.site)
			}
			b, err := a.renderBundle(plan, secrets, n)
			if err != nil {
				return err
			}
			paths, err := writeBundle(outDir, b)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			a.log.Warn("the bundle holds secrets (passwords, private keys): its files are mode 0600, keep them so", "dir", outDir, "node", n.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outDir, "out", "o", "", "write the bundle to `DIR`")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}
