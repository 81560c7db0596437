package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
	"github.com/spf13/cobra"
)

func (a *app) dhcpCmd() *cobra.Command {
	var (
		ifname, poolRange string
		proxy, noProbe    bool
		workers, queue    int
	)
	cmd := &cobra.Command{
		Use:   "dhcp --interface IF",
		Short: "Serve DHCP for PXE on the management network, alone",
		Long: `dhcp answers the site's nodes on the management network: each node's PXE MAC
gets its reserved address, router, DNS, NTP, hostname and domain, and the boot
file its firmware needs (BIOS: iPXE over TFTP, or pxelinux; UEFI: ipxe.efi;
iPXE: the HTTP URL of its script; UEFI HTTP boot: an HTTP URL). A node whose
netboot is off gets its address and no boot file, so it boots its local disk.

MACs of no node get nothing, unless --pool gives a dynamic range; each is
recorded as "discovered" (see 'provision discovered'). Every lease is an event
of its node in the state store.

Before it answers, dhcp asks the segment for another DHCP server and refuses to
run beside one, naming the address that answered. --proxy-dhcp is for a network
where another server owns the addresses: it answers only the boot information
(offers without an address on port 67, and port 4011).

SIGHUP reloads the site file without dropping requests. 'provision serve' runs
this server beside TFTP and HTTP; this command runs it alone.`,
		Example: `  provision dhcp --interface em2
  provision dhcp --interface em2 --pool 10.3.1.150-10.3.1.199
  provision dhcp --interface em2 --proxy-dhcp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ifname == "" {
				return errors.New("--interface is required: the management network's interface (the one on VLAN 103)")
			}
			srv := &dhcp.Server{Interface: ifname, ProxyDHCP: proxy, NoProbe: noProbe, Workers: workers, Queue: queue, Log: a.log}
			if poolRange != "" {
				pool, err := dhcp.ParsePool(poolRange)
				if err != nil {
					return fmt.Errorf("--pool: %w", err)
				}
				srv.Pool = pool
			}
			return a.serveDHCP(cmd.Context(), srv)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ifname, "interface", "i", "", "`IF`ACE on the management network to serve on")
	f.BoolVar(&proxy, "proxy-dhcp", false, "answer boot information only; another server hands out addresses")
	f.StringVar(&poolRange, "pool", "", "dynamic `FIRST-LAST` range for MACs of no node (default: none)")
	f.BoolVar(&noProbe, "no-probe", false, "skip the start-up check for another DHCP server")
	f.IntVar(&workers, "workers", 0, "goroutines that read and answer each DHCP socket (default 1)")
	f.IntVar(&queue, "queue", 0, "requests the DHCP socket holds while busy; the kernel drops more, counted as queue_drops (default 2048)")
	return cmd
}

// serveDHCP opens the state store, builds the plan with the MACs learnt
// over the BMCs, and serves until ctx ends, reloading on SIGHUP.
func (a *app) serveDHCP(ctx context.Context, srv *dhcp.Server) error {
	st, err := store.Open(a.state, storeWait)
	if err != nil {
		return err
	}
	defer st.Close()
	plan, err := a.planWithMACs(st)
	if err != nil {
		return err
	}
	srv.Events = func(e provision.Event) {
		if _, err := st.Append(e); err != nil {
			a.log.Error("record event", "node", e.Node, "mac", e.MAC, "kind", e.Kind, "err", err)
		}
	}
	srv.Netboot = func(n *provision.NodePlan) bool {
		on, err := st.Netboot(n)
		if err != nil {
			a.log.Error("read netboot flag; using the plan's", "node", n.Name, "err", err)
			return n.Netboot && !n.Appliance
		}
		return on
	}
	if err := srv.Reload(plan); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloaded := make(chan struct{})
	// The reload loop ends when Serve has returned and cancel runs.
	go func() {
		defer close(reloaded)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				a.reloadDHCP(srv, st)
			}
		}
	}()
	err = srv.Serve(ctx)
	cancel()
	<-reloaded
	a.log.Info("dhcp stopped", "counters", srv.Counters.Snapshot())
	return err
}

// reloadDHCP rebuilds the plan and swaps it in; on any problem the server
// keeps the plan it has.
func (a *app) reloadDHCP(srv *dhcp.Server, st *store.Store) {
	plan, err := a.planWithMACs(st)
	if err == nil {
		err = srv.Reload(plan)
	}
	if err != nil {
		a.log.Error("reload on SIGHUP failed; serving the previous plan", "site", a.site, "err", err)
	}
}

// planWithMACs is loadPlan with the MACs recorded in the store (learnt
// over the BMCs), which the site file need not list.
func (a *app) planWithMACs(st *store.Store) (*provision.Plan, error) {
	macs, err := st.MACs()
	if err != nil {
		return nil, fmt.Errorf("read MACs from the state store: %w", err)
	}
	site, probs := provision.Load(a.site)
	var plan *provision.Plan
	if site != nil {
		var more provision.Problems
		plan, more = provision.Build(site, provision.Options{MACs: macs})
		probs = append(probs, more...)
	}
	if errs := probs.Errors(); len(errs) > 0 {
		for _, p := range errs {
			a.log.Error("site", "problem", p.Error())
		}
		return nil, exitError{code: 1, msg: fmt.Sprintf("%s: %d errors; run 'provision check' for the full report", a.site, len(errs))}
	}
	return plan, nil
}
