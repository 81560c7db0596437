package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/internal/store"
	"github.com/spf13/cobra"
)

// serveFlags configure the appliance's servers and its iDRAC access;
// serve, up, role and rebuild share them.
type serveFlags struct {
	iface     string
	addr      string
	httpPort  int
	tftpPort  int
	noDHCP    bool
	proxyDHCP bool
	noRA      bool
	pool      string
	loaders   map[string]string
	endpoints string
	insecure  bool
	ca        string
	basicAuth bool
	noProfile bool
}

func (f *serveFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.iface, "interface", "", "network interface DHCP serves on (default: every interface)")
	fl.StringVar(&f.addr, "addr", "", "address to serve on (default: the appliance's management address in the plan)")
	fl.IntVar(&f.httpPort, "http-port", 80, "HTTP port (boot scripts, kickstarts, install trees, callbacks)")
	fl.IntVar(&f.tftpPort, "tftp-port", 69, "TFTP port (boot loaders)")
	fl.BoolVar(&f.noDHCP, "no-dhcp", false, "do not serve DHCP (another server and a relay or --proxy-dhcp do)")
	fl.BoolVar(&f.proxyDHCP, "proxy-dhcp", false, "answer only boot information; another DHCP server hands out addresses")
	fl.BoolVar(&f.noRA, "no-ra", false, "do not answer IPv6 router solicitations on --interface (answered with no prefix and no default route, so iPXE does not wait ~13 s for a router)")
	fl.StringVar(&f.pool, "pool", "", "give unknown MACs an address from `FIRST-LAST` (default: they get none)")
	fl.StringToStringVar(&f.loaders, "loader", nil, "boot loader file, `NAME=PATH` (e.g. undionly.kpxe=/srv/undionly.kpxe)")
	fl.StringVar(&f.endpoints, "bmc-endpoints", "", "JSON `FILE` of node -> iDRAC endpoint overrides (default $PROVISION_BMC_ENDPOINTS, then the lab's)")
	fl.BoolVar(&f.insecure, "insecure", false, "do not verify the certificates of iDRACs that have no pin (said on every run)")
	fl.StringVar(&f.ca, "ca", "", "PEM `FILE` of CAs for iDRAC certificates that have no pin")
	fl.BoolVar(&f.basicAuth, "basic-auth", false, "log in to iDRACs with HTTP Basic authentication instead of sessions")
	fl.BoolVar(&f.noProfile, "no-profiles", false, "do not hand installed nodes their role profile over SSH (they are ready once installed)")
}

// labEndpoints is where `provision lab up` records its iDRAC simulators.
const labEndpoints = "lab/endpoints.json"

// applianceConfig turns the flags into the appliance's configuration.
func (a *app) applianceConfig(f *serveFlags) (appliance.Config, error) {
	cfg := appliance.Config{SiteFile: a.site, StateDir: a.state, Interface: f.iface, HTTPPort: f.httpPort,
		TFTPPort: f.tftpPort, NoDHCP: f.noDHCP, NoRA: f.noRA, NoHandoff: f.noProfile, ProxyDHCP: f.proxyDHCP, Pool: f.pool, Loaders: f.loaders, Log: a.log,
		BMC: appliance.BMCConfig{CAFile: f.ca, Insecure: f.insecure, BasicAuth: f.basicAuth}}
	if f.addr != "" {
		addr, err := netip.ParseAddr(f.addr)
		if err != nil {
			return cfg, fmt.Errorf("--addr: %w", err)
		}
		cfg.Addr = addr
	}
	file := f.endpoints
	if file == "" {
		file = a.getenv("PROVISION_BMC_ENDPOINTS")
	}
	if file == "" {
		if p := filepath.Join(a.state, labEndpoints); fileExists(p) {
			file = p
		}
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, fmt.Errorf("iDRAC endpoints: %w", err)
		}
		if err := json.Unmarshal(data, &cfg.BMC.Endpoints); err != nil {
			return cfg, fmt.Errorf("iDRAC endpoints %s: want a JSON object of node names to https URLs: %w", file, err)
		}
	}
	if rec, err := lab.Load(a.state); err == nil && a.getenv(labInsideEnv) == rec.Appliance {
		if cfg.Interface == "" {
			cfg.Interface = rec.Interface // DHCP on the lab's management bridge
		}
		// Simulated servers change power state in a fraction of a second.
		cfg.BMC.Timeouts.Poll = 100 * time.Millisecond
		cfg.LabDir = lab.Dir(a.state)
	}
	if f.insecure {
		fmt.Fprintln(a.stderr, "WARNING: --insecure: iDRACs without a pinned certificate are NOT verified")
	}
	return cfg, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// openAppliance opens the appliance's state; a running `provision serve`
// (or another rollout) holds it, and is named in the error.
func (a *app) openAppliance(f *serveFlags) (*appliance.Appliance, error) {
	cfg, err := a.applianceConfig(f)
	if err != nil {
		return nil, err
	}
	ap, err := appliance.Open(cfg, 2*time.Second)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w: a running 'provision serve' or another rollout holds %s; stop it first", err, a.state)
	}
	return ap, err
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the appliance's DHCP, TFTP and HTTP servers",
		Long: `serve runs what PXE-boots and installs the site's nodes, until interrupted:

  DHCP   static reservations for every node's PXE MAC (from the site file or
         discovered over the iDRACs), boot file by firmware (BIOS, UEFI, iPXE,
         HTTP boot), unknown MACs recorded ('provision discovered');
  TFTP   the boot loaders, pxelinux configs, install trees (read-only);
  HTTP   per-node iPXE scripts, kickstarts (each only to its own node, with
         its token), install trees with Range, installer callbacks, /healthz.

Every lease, transfer, script, kickstart and callback is an event of its node
in the state directory; the node's state follows from them ('provision
status'). The "installed" callback turns the node's netboot off before it is
answered, so the next PXE boot goes to the local disk.

SIGHUP re-reads the site file; a site with errors keeps the running plan.`,
		Example: `  provision serve --interface em1
  provision serve --no-dhcp            # a relay forwards to another DHCP server
  provision serve --proxy-dhcp         # another server owns the addresses`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inLab, err := a.intoLab(cmd.Context()); inLab {
				return err
			}
			ap, err := a.openAppliance(&f)
			if err != nil {
				return err
			}
			defer ap.Close()
			srv, err := ap.Servers()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			unrecord, err := ap.EnableControl(ctx, srv)
			if err != nil {
				return err
			}
			defer unrecord()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			// This goroutine ends when ctx does.
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := ap.Reload(); err != nil {
							a.log.Error("reload: keeping the running plan", "err", err)
							continue
						}
						a.log.Info("reloaded the site", "file", a.site, "nodes", len(ap.Plan().Nodes))
					}
				}
			}()
			a.log.Info("serving", "site", ap.Plan().Site.Name, "nodes", len(ap.Plan().Nodes), "http", srv.HTTP.Addr, "tftp", srv.TFTP.Addr, "dhcp", srv.DHCP != nil)
			return srv.Serve(ctx)
		},
	}
	f.register(cmd)
	return cmd
}
