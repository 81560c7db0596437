package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/provision/provision/images"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/vm"
	"github.com/provision/provision/provision"
)

// Config says how to bring a lab up.
type Config struct {
	SiteFile string
	State    string
	Plan     *provision.Plan
	// DaemonCmd makes the command that runs the lab daemon (Daemon.Run)
	// in the iDRAC namespace: `ip netns exec NS provision lab daemon`.
	DaemonCmd func(idracNS string) *exec.Cmd
	// Ready bounds the wait for the simulators (default 30s).
	Ready time.Duration
	// InstallTime is how long a simulated install takes.
	InstallTime time.Duration
	// Faults are fault switches by node.
	Faults map[string]NodeFaults
	// QEMU are the nodes that boot as QEMU VMs, by firmware; Kit is the
	// VM kit, whose kernel and installer initrd become the install tree.
	QEMU map[string]string
	Kit  *vm.Kit
	Log  *slog.Logger
}

// Up builds the lab: network, a small install tree when none is imported,
// the iDRAC simulators; pins their certificates and forgets the nodes'
// states, as for a new rack. It records the lab under STATE/lab.
func Up(ctx context.Context, cfg Config) (*Record, error) {
	if cfg.Ready == 0 {
		cfg.Ready = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if _, err := Load(cfg.State); err == nil {
		return nil, errors.New("a lab is already up in this state directory: run 'provision lab down' first")
	}
	l, err := LayoutOf(cfg.Plan)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(Dir(cfg.State), 0o700); err != nil {
		return nil, err
	}
	if len(cfg.QEMU) > 0 && cfg.Kit == nil {
		return nil, errors.New("QEMU nodes need the VM kit")
	}
	if err := checkQEMUFaults(cfg.QEMU, cfg.Faults); err != nil {
		return nil, err
	}
	var kit *vm.Kit
	if len(cfg.QEMU) > 0 {
		kit = cfg.Kit
	}
	if err := ensureTree(ctx, cfg.State, cfg.Plan, kit, cfg.Log); err != nil {
		return nil, err
	}
	rec, err := l.Create(ctx)
	if err != nil {
		return nil, err
	}
	rec.SiteFile = cfg.SiteFile
	rec.InstallTime = Duration{cfg.InstallTime}
	rec.Faults = cfg.Faults
	if kit != nil {
		rec.QEMU, rec.VMKit = cfg.QEMU, kit.Dir
	}
	fail := func(err error) (*Record, error) {
		_ = Down(context.WithoutCancel(ctx), cfg.State, l.Site)
		return nil, err
	}
	_ = os.Remove(PinsFile(cfg.State))
	if err := rec.save(cfg.State); err != nil { // the daemon reads the faults
		return fail(err)
	}
	cmd := cfg.DaemonCmd(rec.IDRAC)
	logf, err := os.OpenFile(filepath.Join(Dir(cfg.State), "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("lab daemon: %w", err))
	}
	rec.DaemonPID = cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := rec.save(cfg.State); err != nil {
		return fail(err)
	}
	pins, err := waitPins(ctx, cfg.State, cfg.Ready)
	if err != nil {
		return fail(fmt.Errorf("lab daemon (see %s): %w", filepath.Join(Dir(cfg.State), "daemon.log"), err))
	}
	if err := writeJSON(filepath.Join(Dir(cfg.State), "endpoints.json"), rec.Endpoints); err != nil {
		return fail(err)
	}
	if err := newRack(cfg.State, l, pins); err != nil {
		return fail(err)
	}
	return rec, nil
}

// waitPins waits for the daemon to write its simulators' fingerprints.
func waitPins(ctx context.Context, state string, d time.Duration) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var pins map[string]string
		if err := readJSON(PinsFile(state), &pins); err == nil {
			return pins, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("iDRAC simulators not up: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// newRack makes the state look like a new rack: the simulators'
// certificates pinned, no MACs known, every node new.
func newRack(state string, l *Layout, pins map[string]string) error {
	st, err := store.Open(state, 5*time.Second)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, n := range l.Nodes {
		if fp, ok := pins[n.Name]; ok {
			if err := st.Pin(n.Name, fp); err != nil {
				return err
			}
		}
		if err := st.SetMACs(n.Name, map[string]string{}); err != nil {
			return err
		}
		if _, err := st.Append(provision.Event{Node: n.Name, Source: provision.SourceOperator, Kind: provision.KindForget, Msg: "lab up: a new rack"}); err != nil {
			return err
		}
	}
	return nil
}

// Down stops the lab's daemon and every simulated node, removes its
// namespaces and its record. It works from the namespace names, so it
// also cleans up after a crash.
func Down(ctx context.Context, state, site string) error {
	if rec, err := Load(state); err == nil {
		if site == "" {
			site = rec.Site
		}
		if rec.DaemonPID > 1 {
			_ = syscall.Kill(rec.DaemonPID, syscall.SIGKILL)
		}
	}
	if site == "" {
		return errors.New("no lab is recorded here: name the site (--site) to clean up its namespaces")
	}
	err := Destroy(ctx, site)
	for _, f := range []string{"lab.json", "endpoints.json", "pins.json"} {
		if rmErr := os.Remove(filepath.Join(Dir(state), f)); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// ensureTree imports a small stand-in install tree for each image the
// plan's nodes use, unless one is imported already: the simulated nodes
// fetch its kernel and initrd as real nodes fetch CentOS's. With a VM
// kit (QEMU nodes), the tree is the kit's kernel and installer initrd,
// replacing a tree imported before, since VMs boot it for real.
func ensureTree(ctx context.Context, state string, plan *provision.Plan, kit *vm.Kit, log *slog.Logger) error {
	cat := images.Catalog{Dir: filepath.Join(state, "images")}
	have := map[string]bool{}
	if trees, err := cat.List(); err == nil && kit == nil {
		for _, t := range trees {
			have[t.Name] = true
		}
	}
	for _, n := range plan.Nodes {
		if n.Appliance || have[n.Image] {
			continue
		}
		src, err := os.MkdirTemp("", "provision-lab-tree-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(src)
		if kit != nil {
			if err := kit.WriteTree(src); err != nil {
				return fmt.Errorf("lab install tree %s: %w", n.Image, err)
			}
			if _, err := cat.Import(ctx, src, images.ImportOptions{Name: n.Image, Force: true, Log: log}); err != nil {
				return fmt.Errorf("lab install tree %s: %w", n.Image, err)
			}
			have[n.Image] = true
			continue
		}
		files := map[string]string{
			".treeinfo": "# A stand-in for CentOS 6.5 x86_64, made by provision lab up.\n[general]\nfamily = CentOS\nversion = 6.5\narch = x86_64\n\n" +
				"[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n",
			"images/pxeboot/vmlinuz":    "provision lab: stand-in kernel\n",
			"images/pxeboot/initrd.img": "provision lab: stand-in initrd\n",
			"repodata/repomd.xml":       "<?xml version=\"1.0\"?>\n<repomd/>\n",
		}
		for name, body := range files {
			p := filepath.Join(src, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				return err
			}
		}
		if _, err := cat.Import(ctx, src, images.ImportOptions{Name: n.Image, Log: log}); err != nil {
			return fmt.Errorf("lab install tree %s: %w", n.Image, err)
		}
		have[n.Image] = true
	}
	return nil
}
