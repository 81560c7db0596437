package simnode

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"

	"github.com/pin/tftp/v3"
)

// isPXELinux says whether a boot file is SYSLINUX's PXE loader, which
// reads its config and images over TFTP and does no DHCP of its own.
func isPXELinux(bootFile string) bool {
	b := path.Base(bootFile)
	return b == "pxelinux.0" || b == "lpxelinux.0"
}

// pxelinuxNames are the config files pxelinux asks for, in its order
// (SYSLINUX's PXELINUX documentation): the MAC with ARP type 01, the
// address in upper-case hex shortened a digit at a time, then default.
func pxelinuxNames(mac net.HardwareAddr, addr netip.Addr) []string {
	names := []string{"pxelinux.cfg/01-" + strings.ReplaceAll(mac.String(), ":", "-")}
	a := addr.As4()
	hex := fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
	for i := len(hex); i > 0; i-- {
		names = append(names, "pxelinux.cfg/"+hex[:i])
	}
	return append(names, "pxelinux.cfg/default")
}

// pxelinux is the pxelinux.0 the firmware loaded: its config, then the
// kernel and initrd of its default label over TFTP.
func (n *node) pxelinux(ctx context.Context, l lease) (action, error) {
	server := l.server.String()
	var cfg []byte
	var name string
	for _, cand := range pxelinuxNames(n.cfg.MAC, l.addr.Addr()) {
		var buf bytes.Buffer
		if _, err := n.tftpFetch(server, cand, &buf); err == nil {
			cfg, name = buf.Bytes(), cand
			break
		}
		if ctx.Err() != nil {
			return action{}, ctx.Err()
		}
	}
	if cfg == nil {
		n.step(PhasePXELinux, "script", "pxelinux: no config file: boot failed, next boot device")
		return action{kind: actionLocal}, nil
	}
	n.step(PhasePXELinux, "script", fmt.Sprintf("pxelinux: %s: %d bytes", name, len(cfg)))
	e := parsePXELinux(cfg)
	switch {
	case e.localboot:
		n.step(PhasePXELinux, "local", "pxelinux LOCALBOOT: boot the local disk")
		return action{kind: actionLocal}, nil
	case e.kernel == "":
		n.step(PhasePXELinux, "script", "pxelinux: no kernel in the default label: next boot device")
		return action{kind: actionLocal}, nil
	}
	act := action{kind: actionInstall, kernel: e.kernel}
	var initrds []string
	for _, a := range e.args {
		if v, ok := strings.CutPrefix(a, "initrd="); ok {
			initrds = append(initrds, strings.Split(v, ",")...)
		}
		act.args = append(act.args, a)
	}
	if e.ipappend&2 != 0 {
		act.args = append(act.args, "BOOTIF=01-"+strings.ReplaceAll(n.cfg.MAC.String(), ":", "-"))
	}
	for _, f := range append([]string{e.kernel}, initrds...) {
		size, err := n.tftpGet(server, f)
		if err != nil {
			if ctx.Err() != nil {
				return action{}, ctx.Err()
			}
			n.step(PhasePXELinux, "kernel", fmt.Sprintf("pxelinux: %s: %v: boot failed, next boot device", f, err))
			return action{kind: actionLocal}, nil
		}
		n.step(PhasePXELinux, "kernel", fmt.Sprintf("pxelinux: %s: %d bytes", f, size))
		act.initrds = append(act.initrds, f)
	}
	act.initrds = act.initrds[1:]
	return act, nil
}

// pxelinuxEntry is the default label of a pxelinux config.
type pxelinuxEntry struct {
	kernel    string
	args      []string
	ipappend  int
	localboot bool
}

// parsePXELinux reads the label DEFAULT names (else the first): KERNEL or
// LINUX, APPEND, IPAPPEND, LOCALBOOT. Keywords are case-insensitive.
func parsePXELinux(data []byte) pxelinuxEntry {
	labels := map[string]*pxelinuxEntry{}
	var order []string
	var def string
	var cur *pxelinuxEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		kw, rest := strings.ToUpper(f[0]), f[1:]
		switch {
		case kw == "DEFAULT" && len(rest) > 0:
			def = rest[0]
		case kw == "LABEL" && len(rest) > 0:
			cur = &pxelinuxEntry{}
			labels[rest[0]] = cur
			order = append(order, rest[0])
		case cur == nil:
		case (kw == "KERNEL" || kw == "LINUX") && len(rest) > 0:
			cur.kernel = rest[0]
		case kw == "APPEND":
			cur.args = rest
		case kw == "IPAPPEND" && len(rest) > 0:
			fmt.Sscanf(rest[0], "%d", &cur.ipappend)
		case kw == "LOCALBOOT":
			cur.localboot = true
		}
	}
	if e, ok := labels[def]; ok {
		return *e
	}
	if len(order) > 0 {
		return *labels[order[0]]
	}
	return pxelinuxEntry{}
}

// tftpFetch fetches file from server into w.
func (n *node) tftpFetch(server, file string, w *bytes.Buffer) (int64, error) {
	c, err := newTFTPClient(server)
	if err != nil {
		return 0, err
	}
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return 0, fmt.Errorf("tftp %s: %w", file, err)
	}
	got, err := wt.WriteTo(w)
	if err != nil {
		return got, fmt.Errorf("tftp %s: %w", file, err)
	}
	return got, nil
}

// newTFTPClient is a client as PXE ROMs and pxelinux use it: blksize
// 1468, tsize asked, 2 s timeout, 4 retries.
func newTFTPClient(server string) (*tftp.Client, error) {
	c, err := tftp.NewClient(net.JoinHostPort(server, "69"))
	if err != nil {
		return nil, fmt.Errorf("tftp client: %w", err)
	}
	c.SetTimeout(tftpTimeout)
	c.SetRetries(4)
	c.SetBlockSize(tftpBlockSize)
	c.RequestTSize(true)
	return c, nil
}
