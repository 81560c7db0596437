package simnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ipRunner runs iproute2's ip in the process's network namespace.
type ipRunner struct {
	path string
	log  *slog.Logger
}

func newIPRunner(log *slog.Logger) (*ipRunner, error) {
	p, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("iproute2's ip: %w", err)
	}
	return &ipRunner{path: p, log: log}, nil
}

// run runs ip with args and returns its error with its output.
func (r *ipRunner) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, r.path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r.log.Debug("ip", "args", strings.Join(args, " "), "err", err)
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// linksFile lists the links the node made, one a line, so that power-off,
// or the next power-on after a crash, removes them.
func (n *node) linksFile() string { return filepath.Join(n.stateDir(), "links") }

// addLink runs an "ip link add" for name and records name.
func (n *node) addLink(ctx context.Context, name string, args ...string) error {
	if err := n.ip.run(ctx, append([]string{"link", "add"}, args...)...); err != nil {
		return err
	}
	f, err := os.OpenFile(n.linksFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record link %s: %w", name, err)
	}
	_, werr := f.WriteString(name + "\n")
	return errors.Join(werr, f.Close())
}

// resetNetwork brings the namespace back to a powered-off machine's: the
// links the node made removed (in reverse order: VLANs before their
// bonds), and the PXE interface out of any bond, with no address, up.
func (n *node) resetNetwork(ctx context.Context) error {
	data, err := os.ReadFile(n.linksFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("links made: %w", err)
	}
	links := strings.Fields(string(data))
	slices.Reverse(links)
	for _, l := range links {
		if l == n.cfg.Interface {
			continue
		}
		// Gone already (a VLAN with its parent, or never made): fine.
		_ = n.ip.run(ctx, "link", "del", "dev", l)
	}
	if err := os.Remove(n.linksFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("links made: %w", err)
	}
	_ = n.ip.run(ctx, "link", "set", "dev", n.cfg.Interface, "nomaster")
	if err := n.ip.run(ctx, "addr", "flush", "dev", n.cfg.Interface); err != nil {
		return err
	}
	return n.ip.run(ctx, "link", "set", "dev", n.cfg.Interface, "up")
}

// powerOn clears what a previous boot left (a crash skips power-off):
// its sshd and its links.
func (n *node) powerOn(ctx context.Context) error {
	if err := killStaleSSHD(n.pidFile(), n.sshdConfig()); err != nil {
		return fmt.Errorf("simnode: node %s: %w", n.cfg.Node, err)
	}
	if err := n.resetNetwork(ctx); err != nil {
		return fmt.Errorf("simnode: node %s: power-on: %w", n.cfg.Node, err)
	}
	return nil
}

// powerOff undoes the boot's network, with a context of its own: the
// boot's has ended.
func (n *node) powerOff() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.resetNetwork(ctx); err != nil {
		n.cfg.Log.Warn("power-off: reset network", "err", err)
	}
	n.step(PhaseSystem, "power-off", "powered off")
}

// setAddr gives the PXE interface addr (a prefix) alone.
func (n *node) setAddr(ctx context.Context, prefix string) error {
	if err := n.ip.run(ctx, "addr", "flush", "dev", n.cfg.Interface); err != nil {
		return err
	}
	return n.ip.run(ctx, "addr", "add", prefix, "dev", n.cfg.Interface)
}
