package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Config is one simulated node.
type Config struct {
	// Node is the node's name, for logs and the kickstart file name.
	Node string
	// MAC is the PXE NIC's MAC: the DHCP client hardware address.
	MAC net.HardwareAddr
	// Interface is the PXE NIC's link in the namespace.
	Interface string
	// PXENIC is the PXE NIC's name in the node's ifcfg files and %pre
	// checks (the plan's pxe_nic, "em1"); default Interface.
	PXENIC string
	// BootMode is "bios" (default) or "uefi": option 93 and 60 of the
	// firmware and iPXE's ${platform}.
	BootMode string
	// Disks are the node's disks as %pre sees them in /sys/block. Nil
	// means the disks the kickstart's %pre expects, all present, each of
	// the middle size of its range.
	Disks []Disk
	// NICs are the node's NICs by name, with their MAC ("" when not
	// known), as %pre sees them in /sys/class/net. Nil means every NIC
	// %pre checks is present; PXENIC has MAC.
	NICs map[string]string
	// InstallTime is how long the simulated package installation takes.
	InstallTime time.Duration
	// Faults are the node's fault switches.
	Faults Faults
	// RootDir is the node's disk: %post's files are written under it, and
	// the node's own state under RootDir/.simnode. Required, absolute.
	RootDir string
	// SSHD is the OpenSSH server binary; default /usr/sbin/sshd.
	SSHD string
	// SSHDOptions are extra sshd -o options ("ForceCommand=..."): the sshd
	// runs on the host's file system, as root.
	SSHDOptions []string
	// DHCPTimeout is the first wait for a DHCP answer, doubled at each
	// retry (default 1s); DHCPRetries the number of retries (default 4).
	DHCPTimeout time.Duration
	DHCPRetries int
	// Log is the node's logger; nil logs nothing.
	Log *slog.Logger
	// Progress, when set, is called with every step of the timeline, from
	// Boot's goroutine.
	Progress func(Step)
}

// Disk is a disk of the simulated node.
type Disk struct {
	Name      string // sda
	Sectors   int64  // 512-byte sectors
	Removable bool
}

// Faults are a node's fault switches.
type Faults struct {
	// NoCallback: the installer's reports never reach the appliance (as
	// with no curl or wget in the installer). The install still finishes
	// and the node boots its disk.
	NoCallback bool
	// MissingDisk names a disk (sdb) the node does not have, whatever
	// Disks says: %pre refuses the machine.
	MissingDisk string
	// SlowDHCP delays every DHCP message the node sends.
	SlowDHCP time.Duration
}

// String lists the switches that are on, "" for none.
func (f Faults) String() string {
	var on []string
	if f.NoCallback {
		on = append(on, "never calls back")
	}
	if f.MissingDisk != "" {
		on = append(on, "disk "+f.MissingDisk+" missing")
	}
	if f.SlowDHCP > 0 {
		on = append(on, "slow DHCP ("+f.SlowDHCP.String()+" before each message)")
	}
	return strings.Join(on, ", ")
}

// Step is one entry of a node's timeline.
type Step struct {
	Node string
	// Phase is firmware, ipxe (or pxelinux), installer or system.
	Phase string
	// What is a short word: dhcp, tftp, script, kernel, initrd, kickstart,
	// lint, pre, packages, post, callback, reboot, network, sshd, local,
	// halt, power-off.
	What string
	Msg  string
	// Elapsed is the time since power-on.
	Elapsed time.Duration
	// Failed marks a step that stops the node (it halts until power-off).
	Failed bool
}

// Phases.
const (
	PhaseFirmware  = "firmware"
	PhaseIPXE      = "ipxe"
	PhasePXELinux  = "pxelinux"
	PhaseInstaller = "installer"
	PhaseSystem    = "system"
)

// Errors callers can test with errors.Is.
var (
	ErrConfig        = errors.New("simnode: bad config")
	ErrHostNamespace = errors.New("simnode: refusing to run in the host's network namespace")
)

const defaultSSHD = "/usr/sbin/sshd"

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("no Node"))
	}
	if len(c.MAC) != 6 {
		errs = append(errs, errors.New("MAC is not an Ethernet MAC"))
	}
	if c.Interface == "" {
		errs = append(errs, errors.New("no Interface"))
	}
	if c.RootDir == "" || !filepath.IsAbs(c.RootDir) || filepath.Clean(c.RootDir) == "/" {
		errs = append(errs, fmt.Errorf("RootDir %q is not an absolute directory below /", c.RootDir))
	}
	switch c.BootMode {
	case "":
		c.BootMode = "bios"
	case "bios", "uefi":
	default:
		errs = append(errs, fmt.Errorf("boot mode %q is not bios or uefi", c.BootMode))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: node %s: %w", ErrConfig, c.Node, err)
	}
	c.RootDir = filepath.Clean(c.RootDir)
	if c.PXENIC == "" {
		c.PXENIC = c.Interface
	}
	if c.SSHD == "" {
		c.SSHD = defaultSSHD
	}
	if c.DHCPTimeout <= 0 {
		c.DHCPTimeout = time.Second
	}
	if c.DHCPRetries <= 0 {
		c.DHCPRetries = 4
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Log = c.Log.With("node", c.Node, "mac", c.MAC.String())
	return c, nil
}

// node is one boot of a simulated node.
type node struct {
	cfg   Config
	start time.Time
	ip    *ipRunner
}

// Boot runs one boot of the node: the PXE boot, install and reboot when pxe
// is true (the iDRAC set PXE-once), else the local disk. It returns nil
// when ctx ends (the node is powered off), having stopped sshd and removed
// the links it made; see the package documentation for its errors.
func Boot(ctx context.Context, cfg Config, pxe bool) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if err := checkNamespace(); err != nil {
		return err
	}
	ip, err := newIPRunner(cfg.Log)
	if err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	n := &node{cfg: cfg, start: time.Now(), ip: ip}
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	if err := n.powerOn(ctx); err != nil {
		return err
	}
	defer n.powerOff()
	n.step(PhaseFirmware, "power-on", fmt.Sprintf("powered on (pxe=%v, boot mode %s)", pxe, cfg.BootMode))
	if f := cfg.Faults.String(); f != "" {
		n.step(PhaseFirmware, "faults", "fault switches: "+f)
	}
	next := bootDisk
	if pxe {
		var act action
		act, err = n.pxe(ctx)
		switch {
		case err != nil:
		case act.kind == actionInstall:
			next, err = n.install(ctx, act)
		case act.kind == actionHalt:
			next = halted
		}
	}
	if err == nil && next == bootDisk {
		err = n.system(ctx)
	}
	if ctx.Err() != nil {
		// Power-off in any phase ends the boot normally.
		return nil
	}
	if err != nil {
		return fmt.Errorf("simnode: node %s: %w", cfg.Node, err)
	}
	<-ctx.Done()
	return nil
}

// next says where a phase leaves the node.
type next int

const (
	bootDisk next = iota // reboot, or go on, to the local disk
	halted               // at an error screen until power-off
)

func (n *node) stateDir() string { return filepath.Join(n.cfg.RootDir, ".simnode") }

// step records a step of the timeline.
func (n *node) step(phase, what, msg string) {
	n.record(Step{Phase: phase, What: what, Msg: msg})
}

// fail records a step that halts the node.
func (n *node) fail(phase, what, msg string) next {
	n.record(Step{Phase: phase, What: what, Msg: msg, Failed: true})
	return halted
}

func (n *node) record(s Step) {
	s.Node = n.cfg.Node
	s.Elapsed = time.Since(n.start)
	lvl := slog.LevelInfo
	if s.Failed {
		lvl = slog.LevelWarn
	}
	n.cfg.Log.Log(context.Background(), lvl, s.Msg, "phase", s.Phase, "step", s.What,
		"elapsed", s.Elapsed.Round(time.Millisecond).String(), "failed", s.Failed)
	if n.cfg.Progress != nil {
		n.cfg.Progress(s)
	}
}

// wait waits d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkNamespace refuses the host's network namespace: Boot flushes
// addresses and removes links, which is for a node's namespace only. A
// namespace made by ip netns add (a file under /run/netns) is a node's;
// any other must differ from PID 1's.
func checkNamespace() error {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		return fmt.Errorf("simnode: own network namespace: %w", err)
	}
	same := func(path string) bool {
		var st unix.Stat_t
		return unix.Stat(path, &st) == nil && st.Dev == self.Dev && st.Ino == self.Ino
	}
	named, _ := filepath.Glob("/run/netns/*")
	for _, p := range named {
		if same(p) {
			return nil
		}
	}
	var host unix.Stat_t
	if err := unix.Stat("/proc/1/ns/net", &host); err != nil {
		return fmt.Errorf("%w: not a namespace of ip netns, and PID 1's is unknown: %w", ErrHostNamespace, err)
	}
	if host.Dev == self.Dev && host.Ino == self.Ino {
		return ErrHostNamespace
	}
	return nil
}
