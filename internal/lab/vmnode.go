package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/internal/vm"
)

// VMBoot is one PXE boot of a lab node that is a QEMU VM (lab up
// --qemu): its NIC is a tap in the node's namespace, wired to the node's
// PXE NIC (the veth on the management bridge) by tc redirects both ways,
// so the VM's frames go out on the node's cable as its own.
type VMBoot struct {
	Node     string
	MAC      string // the VM NIC's MAC: the node's PXE MAC
	NIC      string // the node's PXE NIC in its namespace
	Firmware vm.Firmware
	Console  string // serial console file
	Disk     string // raw disk image, made afresh for each PXE boot
	Log      *slog.Logger
}

// vmTap is the VM's tap in the node's namespace.
const vmTap = "vm0"

// VMResult is how a VM's PXE boot ended.
type VMResult struct {
	// Installed: the installer finished and the VM's next boot went to
	// its disk; Kickstart is what the installer left there.
	Installed bool
	Kickstart []byte
}

// BootVM runs the VM's PXE boot in the current namespace (the node's):
// firmware, iPXE, the kit's kernel and installer, the reboot. It returns
// once the rebooted VM's firmware turns to its disk, having stopped the
// VM and unwired its tap. An installer that stops (no kickstart, a bad
// tree) leaves the VM at its error until ctx ends (power-off); then
// Installed is false.
func BootVM(ctx context.Context, cfg VMBoot) (VMResult, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := wireTap(ctx, cfg.NIC); err != nil {
		return VMResult{}, fmt.Errorf("node %s: VM network: %w", cfg.Node, err)
	}
	defer unwireTap(cfg.NIC)
	if err := os.MkdirAll(filepath.Dir(cfg.Disk), 0o700); err != nil {
		return VMResult{}, fmt.Errorf("node %s: VM disk: %w", cfg.Node, err)
	}
	if err := os.WriteFile(cfg.Disk, nil, 0o600); err != nil {
		return VMResult{}, fmt.Errorf("node %s: VM disk: %w", cfg.Node, err)
	}
	if err := os.Truncate(cfg.Disk, 64<<20); err != nil {
		return VMResult{}, fmt.Errorf("node %s: VM disk: %w", cfg.Node, err)
	}
	if err := os.WriteFile(cfg.Console, nil, 0o600); err != nil {
		return VMResult{}, fmt.Errorf("node %s: VM console: %w", cfg.Node, err)
	}
	vmCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd, err := vm.Command(vmCtx, vm.Config{Name: cfg.Node, MAC: cfg.MAC, Tap: vmTap, Firmware: cfg.Firmware,
		Serial: cfg.Console, Disk: cfg.Disk})
	if err != nil {
		return VMResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return VMResult{}, fmt.Errorf("node %s: start QEMU: %w", cfg.Node, err)
	}
	// This goroutine reaps QEMU, which ends on its own or when stop kills
	// it; every return path below waits for it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() { stop(); <-exited }()
	// watch ends when QEMU does, so a VM that dies is not waited on.
	watch, unwatch := context.WithCancel(ctx)
	defer unwatch()
	go func() { // ends with QEMU or with watch
		select {
		case <-exited:
			unwatch()
		case <-watch.Done():
		}
	}()
	died := func() error {
		select {
		case <-exited:
			return fmt.Errorf("node %s: QEMU exited (%v); see %s", cfg.Node, waitErr, cfg.Console)
		default:
			return nil
		}
	}
	cfg.Log.Info("VM powered on", "node", cfg.Node, "firmware", cfg.Firmware, "pid", cmd.Process.Pid, "console", cfg.Console)
	off, err := vm.WaitConsole(watch, cfg.Console, 0, "provision-vm: installed, rebooting", "provision-vm: install stopped")
	if err != nil {
		if ctx.Err() != nil {
			return VMResult{}, nil // powered off mid-install
		}
		if err := died(); err != nil {
			return VMResult{}, err
		}
		cfg.Log.Warn("VM installer stopped; the VM waits at its error until powered off", "node", cfg.Node, "console", cfg.Console)
		<-ctx.Done()
		return VMResult{}, nil
	}
	cfg.Log.Info("VM installed, rebooting", "node", cfg.Node)
	if _, err := vm.WaitConsole(watch, cfg.Console, off, vm.LocalBootSign(cfg.Firmware)); err != nil {
		if ctx.Err() != nil {
			return VMResult{}, nil // powered off before it got there
		}
		return VMResult{}, died()
	}
	stop()
	<-exited
	ks, err := vm.ReadDisk(cfg.Disk)
	if err != nil {
		return VMResult{}, fmt.Errorf("node %s: %w", cfg.Node, err)
	}
	cfg.Log.Info("VM boots its disk: the lab runs the installed system", "node", cfg.Node)
	return VMResult{Installed: true, Kickstart: ks}, nil
}

// wireTap makes the VM's tap and joins it to nic, both ways: an ingress
// redirect on each. No bridge, so the VM's MAC, which is also nic's, is
// never taken for a local address.
func wireTap(ctx context.Context, nic string) error {
	unwireTap(nic) // a boot the daemon killed leaves its wiring behind
	if err := vm.AddTap(ctx, "", vmTap, ""); err != nil {
		return err
	}
	var errs []error
	for _, args := range [][]string{
		{"link", "set", nic, "up"},
		{"addr", "flush", "dev", nic},
	} {
		errs = append(errs, ip(ctx, args...))
	}
	for _, pair := range [][2]string{{vmTap, nic}, {nic, vmTap}} {
		errs = append(errs, tc(ctx, "qdisc", "add", "dev", pair[0], "ingress"),
			tc(ctx, "filter", "add", "dev", pair[0], "parent", "ffff:", "protocol", "all",
				"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", pair[1]))
	}
	return errors.Join(errs...)
}

// unwireTap removes the tap (its qdisc goes with it) and nic's redirect.
func unwireTap(nic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "tc", "qdisc", "del", "dev", nic, "ingress").Run()
	_ = exec.CommandContext(ctx, "ip", "link", "del", vmTap).Run()
}

// tc runs iproute2's tc with args.
func tc(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "tc", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
