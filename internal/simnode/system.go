package simnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// system is the installed system booted from the local disk: its network
// as the ifcfg files say, and sshd, until power-off.
func (n *node) system(ctx context.Context) error {
	if _, err := os.Stat(n.installedMarker()); err != nil {
		n.fail(PhaseSystem, "local", "no bootable device: the disk holds no installed system")
		return nil
	}
	n.step(PhaseSystem, "local", "booting the installed system from the local disk")
	nc, err := readNetConfig(n.cfg.RootDir)
	if err != nil {
		n.fail(PhaseSystem, "network", "network files: "+err.Error())
		return nil
	}
	mgmt, err := n.bringUp(ctx, nc)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bring up the network: %w", err)
	}
	if !mgmt.IsValid() {
		n.fail(PhaseSystem, "network", "no address on the PXE NIC's path in the ifcfg files: sshd has nowhere to listen")
		return nil
	}
	stop, err := n.startSSHD(ctx, mgmt)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	<-ctx.Done()
	stop()
	return nil
}

// bringUp makes the ifcfg files' devices in the namespace and returns the
// management address: the one on the PXE NIC's path. Bonds and VLANs the
// kernel cannot make get stand-ins: a bond with the PXE NIC among its
// slaves is the PXE NIC itself; any other missing device is a macvlan on
// the PXE NIC, so its address is still in the namespace.
func (n *node) bringUp(ctx context.Context, nc netConfig) (netip.Addr, error) {
	links := map[string]string{n.cfg.PXENIC: n.cfg.Interface}
	onPXE := map[string]bool{n.cfg.PXENIC: true}
	var made []string
	var mgmt netip.Addr
	for _, c := range nc.ordered() {
		var err error
		switch c.kind {
		case "ethernet":
			err = n.upNIC(ctx, c, links)
		case "bond":
			err = n.upBond(ctx, c, nc, links, onPXE)
		case "vlan":
			err = n.upVLAN(ctx, c, links, onPXE)
		}
		if err != nil {
			return mgmt, err
		}
		link := links[c.device]
		if link == "" {
			continue
		}
		if c.mtu > 0 {
			// A macvlan cannot be larger than its parent: not fatal.
			if err := n.ip.run(ctx, "link", "set", "dev", link, "mtu", strconv.Itoa(c.mtu)); err != nil {
				n.cfg.Log.Debug("mtu", "dev", c.device, "err", err)
			}
		}
		if c.addr.IsValid() {
			if err := n.ip.run(ctx, "addr", "replace", c.addr.String(), "dev", link); err != nil {
				return mgmt, err
			}
			if onPXE[c.device] && !mgmt.IsValid() {
				mgmt = c.addr.Addr()
			}
		}
		if err := n.ip.run(ctx, "link", "set", "dev", link, "up"); err != nil {
			return mgmt, err
		}
		desc := c.device
		if link != c.device {
			desc += " on " + link
		}
		if c.addr.IsValid() {
			desc += " " + c.addr.String()
		}
		made = append(made, desc)
	}
	if nc.gateway.IsValid() {
		dev := links[nc.gatewayDev]
		args := []string{"route", "replace", "default", "via", nc.gateway.String()}
		if dev != "" {
			args = append(args, "dev", dev)
		}
		if err := n.ip.run(ctx, args...); err != nil {
			n.cfg.Log.Debug("default route", "err", err)
		}
	}
	n.step(PhaseSystem, "network", "up: "+strings.Join(made, ", "))
	return mgmt, nil
}

// upNIC finds a NIC: the PXE NIC, one the lab gave the namespace, or (not
// a bond slave) a macvlan stand-in.
func (n *node) upNIC(ctx context.Context, c ifcfg, links map[string]string) error {
	if c.device == n.cfg.PXENIC {
		return nil
	}
	if _, err := net.InterfaceByName(c.device); err == nil {
		links[c.device] = c.device
		return nil
	}
	if c.master != "" {
		// Made with its bond, if the kernel has bonds.
		return nil
	}
	return n.standIn(ctx, c.device, links)
}

// standIn makes a macvlan on the PXE NIC for a device the namespace
// cannot have.
func (n *node) standIn(ctx context.Context, dev string, links map[string]string) error {
	if err := n.addLink(ctx, dev, "link", n.cfg.Interface, "name", dev, "type", "macvlan", "mode", "bridge"); err != nil {
		return fmt.Errorf("stand-in for %s: %w", dev, err)
	}
	links[dev] = dev
	n.step(PhaseSystem, "network", dev+": macvlan stand-in on "+n.cfg.Interface)
	return nil
}

// upBond makes a bond and enslaves its NICs (dummies for those the
// namespace lacks, but beside the PXE NIC), or a stand-in when the kernel
// has no bonding.
func (n *node) upBond(ctx context.Context, c ifcfg, nc netConfig, links map[string]string, onPXE map[string]bool) error {
	var slaves []string
	for _, s := range nc.ifaces {
		if s.master == c.device {
			slaves = append(slaves, s.device)
		}
	}
	pxe := slices.Contains(slaves, n.cfg.PXENIC)
	args := append([]string{"name", c.device, "type", "bond"}, bondArgs(c.opts)...)
	if err := n.addLink(ctx, c.device, args...); err != nil {
		if pxe {
			// No bonding in this kernel: the bond becomes a macvlan on the
			// PXE NIC under the bond's name, holding its address, so that
			// what names the bond (keepalived's "interface bond0") finds a
			// device on the management segment.
			onPXE[c.device] = true
			n.step(PhaseSystem, "network", fmt.Sprintf("%s: no bonding in this kernel: a macvlan of that name on the PXE NIC %s", c.device, n.cfg.Interface))
			return n.standIn(ctx, c.device, links)
		}
		n.cfg.Log.Debug("bond", "dev", c.device, "err", err)
		return n.standIn(ctx, c.device, links)
	}
	links[c.device] = c.device
	onPXE[c.device] = pxe
	for _, s := range slaves {
		link := links[s]
		if link == "" && pxe {
			// A dummy beside the PXE NIC could become the bond's active
			// 802.3ad aggregator and black-hole the management address.
			n.step(PhaseSystem, "network", fmt.Sprintf("%s: slave %s is not in the namespace, left out", c.device, s))
			continue
		}
		if link == "" {
			if err := n.addLink(ctx, s, "name", s, "type", "dummy"); err != nil {
				n.step(PhaseSystem, "network", fmt.Sprintf("%s: slave %s is missing and no dummy can stand in: %v", c.device, s, err))
				continue
			}
			link, links[s] = s, s
		}
		// A NIC joins a bond down.
		if err := n.ip.run(ctx, "link", "set", "dev", link, "down"); err != nil {
			return err
		}
		if err := n.ip.run(ctx, "link", "set", "dev", link, "master", c.device); err != nil {
			return err
		}
		if err := n.ip.run(ctx, "link", "set", "dev", link, "up"); err != nil {
			return err
		}
	}
	return nil
}

// upVLAN makes a VLAN sub-interface, or a stand-in when the kernel has no
// 802.1Q.
func (n *node) upVLAN(ctx context.Context, c ifcfg, links map[string]string, onPXE map[string]bool) error {
	parent, id, ok := vlanParent(c.device)
	if !ok {
		return n.standIn(ctx, c.device, links)
	}
	plink := links[parent]
	if plink == "" {
		return n.standIn(ctx, c.device, links)
	}
	if err := n.addLink(ctx, c.device, "link", plink, "name", c.device, "type", "vlan", "id", strconv.Itoa(id)); err != nil {
		n.cfg.Log.Debug("vlan", "dev", c.device, "err", err)
		return n.standIn(ctx, c.device, links)
	}
	links[c.device] = c.device
	onPXE[c.device] = onPXE[parent]
	return nil
}

// waitListening waits until addr accepts TCP connections, or done is
// closed, or the deadline passes.
func waitListening(ctx context.Context, addr string, done <-chan struct{}, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		dcancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("exited before it listened")
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, err)
		case <-tick.C:
		}
	}
}

// hostKeys are the private host keys %post installed.
func (n *node) hostKeys() []string {
	keys, _ := filepath.Glob(filepath.Join(n.cfg.RootDir, "etc", "ssh", "ssh_host_*_key"))
	return keys
}
