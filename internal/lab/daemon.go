package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/provision/provision/internal/idracsim"
	"github.com/provision/provision/provision"
)

// Daemon runs the simulated iDRACs of a lab (in the lab's iDRAC
// namespace) and, as they boot and power off their servers, the
// simulated nodes.
type Daemon struct {
	Plan    *provision.Plan
	Secrets *provision.Secrets
	State   string
	// BootCmd makes the command that runs one boot of a node in its
	// namespace; the daemon starts it when the node's iDRAC boots the
	// server and kills it when the server is powered off or reset.
	BootCmd func(node string, pxe bool) *exec.Cmd
	// PowerDelay is how long a simulated server takes to change power
	// state.
	PowerDelay time.Duration
	// Faults are the nodes' fault switches; the daemon plays the
	// iDRAC's (down: never listens; slow) and the switch port's (link
	// flaps), the simulated node its own.
	Faults map[string]NodeFaults
	Log    *slog.Logger

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	flaps map[string]*flapping
	wg    sync.WaitGroup
}

// flapping is the flapper of a node's current boot.
type flapping struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the port is left up
}

// PinsFile is where the daemon writes the simulators' certificate
// fingerprints, once they listen.
func PinsFile(state string) string { return filepath.Join(Dir(state), "pins.json") }

// Run serves the simulated iDRACs until ctx ends, then stops every
// simulated node it started.
func (d *Daemon) Run(ctx context.Context) error {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.procs = map[string]*exec.Cmd{}
	d.flaps = map[string]*flapping{}
	l, err := LayoutOf(d.Plan)
	if err != nil {
		return err
	}
	var servers []*idracsim.Server
	pins := map[string]string{}
	for _, n := range l.Nodes {
		f := d.Faults[n.Name]
		if f.IDRACDown {
			d.Log.Info("iDRAC down (fault)", "node", n.Name)
			continue
		}
		cred := d.Secrets.IDRACFor(n.Name)
		cfg := idracsim.ConfigFor(n, cred.User, cred.Password.Reveal())
		cfg.PowerDelay = d.PowerDelay
		cfg.Log = d.Log.With("idrac", n.Name)
		cfg.OnBoot = func(pxe bool) { d.boot(ctx, n.Name, pxe) }
		cfg.OnPowerOff = func() { d.stop(n.Name) }
		sim := idracsim.New(cfg)
		if f.IDRACSlow.Duration > 0 {
			d.Log.Info("iDRAC slow (fault)", "node", n.Name, "delay", f.IDRACSlow.String())
			for _, x := range idracsim.Slow(f.IDRACSlow.Duration) {
				sim.Inject(x)
			}
		}
		s := &idracsim.Server{Addr: net.JoinHostPort(n.IDRAC.Address.String(), "443"), Sim: sim, Log: cfg.Log}
		if err := s.Listen(); err != nil {
			return fmt.Errorf("node %s: iDRAC simulator: %w", n.Name, err)
		}
		pins[n.Name] = s.Fingerprint()
		servers = append(servers, s)
	}
	if err := writeJSON(PinsFile(d.State), pins); err != nil {
		return err
	}
	d.Log.Info("iDRAC simulators up", "count", len(servers))
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.Serve(ctx) })
	}
	wg.Wait()
	d.mu.Lock()
	for name := range d.procs {
		d.stopLocked(name)
	}
	d.mu.Unlock()
	d.wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// boot starts a node's simulated boot, ending the one before it (a reset
// reboots the server).
func (d *Daemon) boot(ctx context.Context, node string, pxe bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	d.stopLocked(node)
	cmd := d.BootCmd(node, pxe)
	logf, err := os.OpenFile(filepath.Join(Dir(d.State), node+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		d.Log.Error("start simulated node", "node", node, "err", err)
		if logf != nil {
			logf.Close()
		}
		return
	}
	d.Log.Info("node boots", "node", node, "pxe", pxe, "pid", cmd.Process.Pid)
	d.procs[node] = cmd
	if f := d.Faults[node].LinkFlap; f != nil {
		d.startFlapping(ctx, node, *f)
	}
	// This goroutine ends when the node's process does.
	d.wg.Go(func() {
		err := cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		d.Log.Info("node process ended", "node", node, "err", err)
		d.mu.Lock()
		if d.procs[node] == cmd {
			delete(d.procs, node)
		}
		d.mu.Unlock()
	})
}

// stop ends a node's simulated boot (the server was powered off).
func (d *Daemon) stop(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked(node)
}

func (d *Daemon) stopLocked(node string) {
	if f, ok := d.flaps[node]; ok {
		f.cancel()
	}
	cmd, ok := d.procs[node]
	if ok {
		// The whole process group: ip netns exec, the node, its sshd.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		delete(d.procs, node)
	}
	// And whatever else runs in the node's namespace (a daemon that left
	// the group): a powered-off server runs nothing, and its NIC goes dark
	// (the addresses a killed keepalived held fall silent with it). The
	// next boot brings the link up again.
	ns := nodeNS(d.Plan.Site.Name, node)
	killPids(context.Background(), ns)
	if n, ok := d.Plan.Node(node); ok {
		if err := powerOffLinks(context.Background(), ns, n.PXE.NIC); err != nil {
			d.Log.Warn("power off: links", "node", node, "err", err)
		}
	}
}

// startFlapping starts flapping a node's switch port for one boot, once
// the flapper of its previous boot has put the port back up. The
// goroutine ends when the flaps are done or the boot is (stopLocked).
func (d *Daemon) startFlapping(ctx context.Context, node string, lf LinkFlap) {
	prev := d.flaps[node]
	ctx, cancel := context.WithCancel(ctx)
	cur := &flapping{cancel: cancel, done: make(chan struct{})}
	d.flaps[node] = cur
	ns, port := prefix(d.Plan.Site.Name)+"app", peerName(node)
	f := flapper{flap: lf, log: d.Log.With("node", node, "port", port), set: func(ctx context.Context, up bool) error {
		state := "down"
		if up {
			state = "up"
		}
		return ip(ctx, "-n", ns, "link", "set", "dev", port, state)
	}}
	d.wg.Go(func() {
		defer close(cur.done)
		defer cancel()
		if prev != nil {
			<-prev.done
		}
		f.run(ctx)
		d.mu.Lock()
		if d.flaps[node] == cur {
			delete(d.flaps, node)
		}
		d.mu.Unlock()
	})
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
