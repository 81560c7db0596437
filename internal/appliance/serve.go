package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/provision/provision/images"
	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/internal/httpd"
	"github.com/provision/provision/internal/ndp"
	"github.com/provision/provision/internal/tftp"
	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
	"golang.org/x/sync/errgroup"
)

// Servers are the appliance's network servers, configured and ready to
// Serve. Fields may be adjusted (tests give listeners) before Serve.
type Servers struct {
	DHCP *dhcp.Server // nil when Config.NoDHCP
	TFTP *tftp.Server
	HTTP *httpd.Server
	// RA answers IPv6 router solicitations on the DHCP interface; nil
	// when there is none (every interface) or Config.NoRA.
	RA *ndp.Advertiser
}

// Servers builds the DHCP, TFTP and HTTP servers of the current plan.
func (a *Appliance) Servers() (*Servers, error) {
	addr := a.addr()
	if !addr.IsValid() {
		return nil, errors.New("no appliance address: set [site] appliance in the site file or --addr")
	}
	loaders, err := images.FindLoaders(images.LoaderConfig{Paths: a.cfg.Loaders})
	if err != nil {
		return nil, fmt.Errorf("boot loaders: %w", err)
	}
	for name, tried := range loaders.Missing {
		a.log.Warn("boot loader not found: nodes that need it cannot boot", "loader", name, "tried", strings.Join(tried, " "))
	}
	root := a.imagesRoot()
	routes := []tftp.Route{
		tftp.LocalBoot(dhcp.DefaultLocalEFIFile),
		tftp.Files("loaders", loaders.Paths()),
		tftp.Dynamic("pxelinux.cfg", tftp.Prefix("pxelinux.cfg/"), a.pxelinuxConfig),
	}
	if root != nil {
		routes = append(routes, tftp.Tree("images", "images/", root))
	}
	s := &Servers{
		TFTP: &tftp.Server{
			Addr:   netip.AddrPortFrom(addr, uint16(a.cfg.TFTPPort)).String(),
			Routes: routes,
			Lookup: a.nodeAt,
			Events: a.Tracker.Record,
			Log:    a.log.With("server", "tftp"),
		},
		HTTP: &httpd.Server{
			Addr:      net.JoinHostPort(addr.String(), strconv.Itoa(a.cfg.HTTPPort)),
			Plan:      a.Plan,
			Flags:     a.Store,
			Tokens:    a.Keys,
			MACs:      a.Store.MACs,
			Kickstart: a.kickstart,
			Images:    root,
			LogDir:    filepath.Join(a.cfg.StateDir, "logs"),
			Events:    a.Tracker.Record,
			Log:       a.log.With("server", "http"),
		},
	}
	if !a.cfg.NoDHCP {
		s.DHCP = &dhcp.Server{
			Plan:      a.Plan,
			Interface: a.cfg.Interface,
			ServerID:  addr,
			ProxyDHCP: a.cfg.ProxyDHCP,
			Netboot: func(n *provision.NodePlan) bool {
				on, err := a.Store.Netboot(n)
				if err != nil {
					a.log.Error("netboot flag", "node", n.Name, "err", err)
					return false // never install a node whose flag cannot be read
				}
				return on
			},
			EventBatch: a.Tracker.RecordBatch,
			Log:        a.log.With("server", "dhcp"),
		}
		if a.cfg.Interface != "" && !a.cfg.NoRA {
			s.RA = &ndp.Advertiser{Interface: a.cfg.Interface, Log: a.log.With("server", "ndp")}
		}
		if a.cfg.Pool != "" {
			p, err := dhcp.ParsePool(a.cfg.Pool)
			if err != nil {
				return nil, fmt.Errorf("--pool: %w", err)
			}
			s.DHCP.Pool = p
		}
	}
	return s, nil
}

// Start binds the TFTP and HTTP sockets and, unless told not to, checks
// that no other DHCP server answers on the segment, so that the servers
// are ready (or refused) when it returns; then it serves in the
// background until ctx ends. The returned function waits for the servers
// and returns the first error.
func (s *Servers) Start(ctx context.Context) (wait func() error, err error) {
	if s.TFTP.Conn == nil {
		if s.TFTP.Conn, err = tftp.Listen(ctx, s.TFTP.Addr); err != nil {
			return nil, err
		}
	}
	if s.HTTP.Listener == nil {
		var lc net.ListenConfig
		if s.HTTP.Listener, err = lc.Listen(ctx, "tcp", s.HTTP.Addr); err != nil {
			s.TFTP.Conn.Close()
			return nil, fmt.Errorf("http: %w", err)
		}
	}
	if s.DHCP != nil && !s.DHCP.NoProbe && !s.DHCP.ProxyDHCP {
		found, err := s.DHCP.Probe(ctx)
		if err == nil && len(found) > 0 {
			err = &dhcp.ConflictError{Servers: found, Interface: s.DHCP.Interface}
		}
		if err != nil {
			s.TFTP.Conn.Close()
			s.HTTP.Listener.Close()
			return nil, err
		}
		s.DHCP.NoProbe = true
	}
	done := make(chan error, 1)
	// This goroutine ends when the servers do, after ctx ends.
	go func() { done <- s.Serve(ctx) }()
	return func() error { return <-done }, nil
}

// Serve runs the servers until ctx ends. The first to fail stops the
// others.
func (s *Servers) Serve(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if s.DHCP != nil {
		g.Go(func() error { return s.DHCP.Serve(ctx) })
	}
	g.Go(func() error { return s.TFTP.Serve(ctx) })
	g.Go(func() error { return s.HTTP.Serve(ctx) })
	if s.RA != nil {
		g.Go(func() error {
			// Without IPv6 on the interface the nodes' iPXE waits for a
			// router, and installs all the same: not worth stopping for.
			if err := s.RA.Serve(ctx); err != nil && s.RA.Log != nil {
				s.RA.Log.Warn("not answering IPv6 router solicitations: iPXE will wait ~13 s for a router at each DHCP", "err", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// imagesRoot opens the install trees' directory, or returns nil (and
// says so) when none was imported yet.
func (a *Appliance) imagesRoot() *os.Root {
	root, err := a.Images.OpenRoot()
	if err != nil {
		a.log.Warn("no install trees: import one with provision images import", "dir", a.Images.Dir, "err", err)
		return nil
	}
	return root
}

// nodeAt names the node whose management address is ip.
func (a *Appliance) nodeAt(ip netip.Addr) string {
	for _, n := range a.Plan().Nodes {
		if n.PXE.Address == ip {
			return n.Name
		}
	}
	return ""
}

// kickstart renders a node's kickstart with its secrets, for the HTTP
// server (which serves it only to the node itself).
func (a *Appliance) kickstart(_ context.Context, plan *provision.Plan, n *provision.NodePlan) ([]byte, error) {
	in, err := a.Keys.KickstartInputs(n.Name, a.Site().Secrets)
	if err != nil {
		return nil, err
	}
	return kickstart.Render(plan, n, in)
}

// pxelinuxConfig answers pxelinux.cfg/01-<mac> for pxelinux nodes, and
// pxelinux.cfg/default (local boot) for everything else pxelinux asks.
func (a *Appliance) pxelinuxConfig(_ context.Context, remote netip.Addr, path string) ([]byte, error) {
	plan := a.Plan()
	name := strings.TrimPrefix(path, "pxelinux.cfg/")
	mac, ok := strings.CutPrefix(name, "01-")
	if !ok {
		if name == "default" {
			return bootcfg.PXELinuxDefault(plan), nil
		}
		return nil, fs.ErrNotExist
	}
	hw, err := bootcfg.ParseMAC(mac)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	n, ok := plan.NodeByMAC(hw)
	if !ok {
		return nil, fs.ErrNotExist
	}
	on, err := a.Store.Netboot(n)
	if err != nil {
		return nil, err
	}
	if on && remote.Unmap() != n.PXE.Address {
		// The install config carries the node's token: only the node
		// itself gets it; anyone else asking for it boots locally.
		a.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceTFTP, Kind: "refused", IP: remote.String(),
			Msg: "pxelinux install config asked from an address that is not the node's: local boot config sent"})
		on = false
	}
	st := bootcfg.State{Netboot: on}
	if on {
		tok, err := a.Keys.Token(n.Name)
		if err != nil {
			return nil, err
		}
		st.Token = provision.NewSecret(tok)
	}
	return bootcfg.PXELinux(plan, n, st)
}
