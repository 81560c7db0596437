package main

import (
	"encoding/json"
	"fmt"

	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) checkCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the site inventory and print every problem",
		Long: `check reads the site file and its secrets file, builds the plan of every node and
prints every problem found, each with its file:line, the object (node, role,
network, vip ...) and the field. Warnings are printed but do not fail.

Exit status: 0 when the site has no errors, 1 otherwise.`,
		Example: `  provision check --site sites/paper.toml
  PROVISION_SITE=sites/staging.toml provision check --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			site, probs := provision.Load(a.site)
			nodes := 0
			if site != nil {
				plan, more := provision.Build(site, provision.Options{})
				probs = append(probs, more...)
				nodes = len(plan.Nodes)
			}
			errs := len(probs.Errors())
			if asJSON {
				out := struct {
					File     string             `json:"file"`
					Nodes    int                `json:"nodes"`
					Errors   int                `json:"errors"`
					Warnings int                `json:"warnings"`
					Problems provision.Problems `json:"problems"`
				}{a.site, nodes, errs, len(probs) - errs, probs}
				if out.Problems == nil {
					out.Problems = provision.Problems{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				for _, p := range probs {
					fmt.Fprintln(a.stdout, p.Error())
				}
				fmt.Fprintf(a.stdout, "%s: %d nodes, %d errors, %d warnings\n", a.site, nodes, errs, len(probs)-errs)
			}
			if errs > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the problems as JSON")
	return cmd
}
