package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

// discoveredMAC is one unknown MAC seen by the DHCP server.
type discoveredMAC struct {
	MAC         string    `json:"mac"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Seen        int       `json:"seen"`
	Firmware    string    `json:"firmware,omitempty"`
	Arch        string    `json:"arch,omitempty"`
	VendorClass string    `json:"vendor_class,omitempty"`
	UserClass   string    `json:"user_class,omitempty"`
	Relay       string    `json:"relay,omitempty"`
}

func (a *app) discoveredCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discovered",
		Short: "List MACs of no node that asked the DHCP server for an address",
		Long: `discovered lists the MACs that sent DHCP requests but belong to no node of the
site: a server whose MAC is not yet in the site file (or was not read from its
iDRAC), or a stranger on the provisioning network. For each it shows when it was
first and last seen, how many times it was recorded (at most once per 10
minutes), and what its firmware said: option 93 (client architecture: 0 BIOS,
6/7/9 UEFI, 16 UEFI HTTP boot), option 60 (vendor class) and whether it was
iPXE. The newest details of each MAC are shown.

The state store is locked by a running 'provision dhcp' or 'provision serve':
stop it first (for now).`,
		Example: `  provision discovered
  provision discovered --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(a.state, storeWait)
			if err != nil {
				return err
			}
			defer st.Close()
			events, err := st.Events(store.Filter{Kind: "discovered"})
			if err != nil {
				return fmt.Errorf("read discovered MACs: %w", err)
			}
			macs := foldDiscovered(events)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(macs)
			}
			printDiscovered(a.stdout, macs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

// foldDiscovered turns discovered events into one entry per MAC, the most
// recently seen first.
func foldDiscovered(events []provision.Event) []discoveredMAC {
	byMAC := map[string]*discoveredMAC{}
	for _, e := range events {
		d, ok := byMAC[e.MAC]
		if !ok {
			d = &discoveredMAC{MAC: e.MAC, FirstSeen: e.Time}
			byMAC[e.MAC] = d
		}
		d.Seen++
		d.LastSeen = e.Time
		d.Firmware = e.Attrs["firmware"]
		d.Arch = e.Attrs["arch"]
		d.VendorClass = e.Attrs["vendor_class"]
		d.UserClass = e.Attrs["user_class"]
		d.Relay = e.Attrs["relay"]
	}
	out := make([]discoveredMAC, 0, len(byMAC))
	for _, d := range byMAC {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].MAC < out[j].MAC
	})
	return out
}

func printDiscovered(w io.Writer, macs []discoveredMAC) {
	if len(macs) == 0 {
		fmt.Fprintln(w, "no unknown MACs seen")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tFIRST SEEN\tLAST SEEN\tSEEN\tFIRMWARE\tARCH\tVENDOR CLASS\tRELAY")
	for _, d := range macs {
		fw := d.Firmware
		if d.UserClass != "" {
			fw += " (" + d.UserClass + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.MAC, d.FirstSeen.UTC().Format(time.RFC3339),
			d.LastSeen.UTC().Format(time.RFC3339), d.Seen, dash(fw), dash(d.Arch), dash(d.VendorClass), dash(d.Relay))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
