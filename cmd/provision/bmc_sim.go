package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/idracsim"
	"github.com/spf13/cobra"
)

func (a *app) bmcSimCmd() *cobra.Command {
	var (
		nodes      int
		listen     string
		basePort   int
		powerDelay time.Duration
		writeFile  string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "bmc-sim",
		Short: "Run simulated Dell iDRACs (Redfish over HTTPS) for the site's nodes, or N made-up ones",
		Long: `bmc-sim runs one simulated iDRAC per node on loopback ports: Dell's Redfish paths,
a self-signed certificate, basic and session authentication, power that takes
--power-delay to change, a one-time boot override consumed by the next boot, and
Dell's error answers. It prints the endpoint map (and with --write-endpoints,
writes it as JSON for 'provision bmc --endpoints FILE'), then serves until
interrupted.

With --nodes N it simulates node01..nodeN with the login root/calvin; otherwise
the site's nodes, with their NICs and the credentials of the secrets file.`,
		Example: `  provision bmc-sim --site sites/paper.toml --write-endpoints /tmp/idracs.json &
  provision bmc --site sites/paper.toml --endpoints /tmp/idracs.json trust --all
  provision bmc-sim --nodes 3 --listen 127.0.0.1 --base-port 8443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfgs, err := a.bmcSimConfigs(nodes)
			if err != nil {
				return err
			}
			for i := range cfgs {
				cfgs[i].PowerDelay = powerDelay
				cfgs[i].Log = a.log
			}
			fleet := idracsim.NewFleet(listen, basePort, cfgs)
			if err := fleet.Listen(); err != nil {
				return err
			}
			if err := a.bmcPrintFleet(fleet, asJSON); err != nil {
				return err
			}
			if writeFile != "" {
				data, err := json.MarshalIndent(fleet.Endpoints(), "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(writeFile, append(data, '\n'), 0o644); err != nil {
					return fmt.Errorf("endpoints file: %w", err)
				}
			}
			return fleet.Serve(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 0, "simulate N made-up nodes instead of the site's")
	fl.StringVar(&listen, "listen", "127.0.0.1", "`HOST` to listen on")
	fl.IntVar(&basePort, "base-port", 0, "first port (one per node); 0 picks free ports")
	fl.DurationVar(&powerDelay, "power-delay", 3*time.Second, "how long a power change takes")
	fl.StringVar(&writeFile, "write-endpoints", "", "write the node -> endpoint map as JSON to `FILE`")
	fl.BoolVar(&asJSON, "json", false, "print the endpoint map as JSON")
	return cmd
}

// simConfigs returns the simulators to run.
func (a *app) bmcSimConfigs(nodes int) ([]idracsim.Config, error) {
	if nodes > 0 {
		var cfgs []idracsim.Config
		for i := 1; i <= nodes; i++ {
			cfgs = append(cfgs, idracsim.Config{Node: fmt.Sprintf("node%02d", i), User: "root", Password: "calvin"})
		}
		return cfgs, nil
	}
	site, plan, err := a.loadSitePlan()
	if err != nil {
		return nil, err
	}
	var cfgs []idracsim.Config
	for _, n := range plan.Nodes {
		cred := site.Secrets.IDRACFor(n.Name)
		cfgs = append(cfgs, idracsim.ConfigFor(n, cred.User, cred.Password.Reveal()))
	}
	return cfgs, nil
}

// printFleet prints each node's endpoint and certificate fingerprint.
func (a *app) bmcPrintFleet(f *idracsim.Fleet, asJSON bool) error {
	type row struct {
		Node        string `json:"node"`
		Endpoint    string `json:"endpoint"`
		Fingerprint string `json:"sha256"`
	}
	var rows []row
	for _, s := range f.Servers {
		rows = append(rows, row{s.Sim.Node(), s.Endpoint(), s.Fingerprint()})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Node < rows[j].Node })
	if asJSON {
		return a.bmcPrintJSON(rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tENDPOINT\tCERTIFICATE SHA-256")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Node, r.Endpoint, r.Fingerprint)
	}
	fmt.Fprintln(tw, "serving until interrupted")
	return tw.Flush()
}
