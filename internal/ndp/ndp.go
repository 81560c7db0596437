// Package ndp answers IPv6 router solicitations on the provisioning
// network with a router advertisement that offers nothing: no prefix, no
// default route (router lifetime 0), neither managed nor other
// configuration. Debian's 2019 iPXE configures IPv6 beside DHCPv4 and
// waits about 13 s for a router when none answers, at each of its DHCPs;
// this advertisement ends that wait at once, and changes nothing for a
// host that reads it (RFC 4861 6.3.4: a lifetime of 0 is not a default
// router; no prefix information, no address).
package ndp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Advertiser answers router solicitations on one interface.
type Advertiser struct {
	Interface string
	Log       *slog.Logger
	// Answered, when set, is called after each advertisement sent in
	// answer to a solicitation, with the soliciting address.
	Answered func(from net.IP)

	conn *icmp.PacketConn
	ifi  *net.Interface
}

// allRouters is where hosts send router solicitations (RFC 4861 4.1).
var allRouters = &net.IPAddr{IP: net.ParseIP("ff02::2")}

// Listen opens the ICMPv6 socket on the interface and joins the
// all-routers group. Serve listens itself when Listen was not called; a
// test calls it inside a network namespace.
func (a *Advertiser) Listen() error {
	ifi, err := net.InterfaceByName(a.Interface)
	if err != nil {
		return fmt.Errorf("ndp: %w", err)
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return fmt.Errorf("ndp: %w", err)
	}
	if err := setup(c.IPv6PacketConn(), ifi); err != nil {
		c.Close()
		return fmt.Errorf("ndp: %s: %w", a.Interface, err)
	}
	a.conn, a.ifi = c, ifi
	return nil
}

func setup(p *ipv6.PacketConn, ifi *net.Interface) error {
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := p.SetICMPFilter(&f); err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	if err := p.JoinGroup(ifi, allRouters); err != nil {
		return fmt.Errorf("join ff02::2: %w", err)
	}
	// RFC 4861 6.1.2: neighbour discovery messages carry hop limit 255.
	if err := p.SetMulticastHopLimit(255); err != nil {
		return err
	}
	if err := p.SetHopLimit(255); err != nil {
		return err
	}
	if err := p.SetMulticastInterface(ifi); err != nil {
		return err
	}
	return p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true)
}

// Serve answers solicitations until ctx ends, then returns nil.
func (a *Advertiser) Serve(ctx context.Context) error {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if a.conn == nil {
		if err := a.Listen(); err != nil {
			return err
		}
	}
	c, ifi := a.conn, a.ifi
	// This goroutine ends when ctx does or Serve returns.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	p := c.IPv6PacketConn()
	ra, err := Advertisement(ifi.HardwareAddr)
	if err != nil {
		return err
	}
	log.Info("answering IPv6 router solicitations (no prefix, not a default router)", "interface", a.Interface)
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ndp: read: %w", err)
		}
		if cm == nil || cm.IfIndex != ifi.Index || !isSolicitation(buf[:n], cm.HopLimit) {
			continue
		}
		// RFC 4861 6.2.6: the answer goes to all nodes.
		to := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: a.Interface}
		if _, err := p.WriteTo(ra, &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255}, to); err != nil {
			log.Warn("router advertisement", "interface", a.Interface, "err", err)
			continue
		}
		from, _ := src.(*net.IPAddr)
		log.Debug("router solicitation answered", "interface", a.Interface, "from", src.String())
		if a.Answered != nil && from != nil {
			a.Answered(from.IP)
		}
	}
}

// isSolicitation checks a received message as RFC 4861 6.1.1 says a
// router must: hop limit 255, ICMP code 0, at least 8 bytes.
func isSolicitation(b []byte, hopLimit int) bool {
	if hopLimit != 255 || len(b) < 8 {
		return false
	}
	m, err := icmp.ParseMessage(58, b)
	return err == nil && m.Type == ipv6.ICMPTypeRouterSolicitation && m.Code == 0
}

// Advertisement is the router advertisement the Advertiser sends (RFC
// 4861 4.2): current hop limit unspecified, M and O clear, router
// lifetime 0, reachable time and retransmit timer unspecified, and the
// source link-layer address option when mac is set. The kernel fills in
// the checksum of a raw ICMPv6 socket.
func Advertisement(mac net.HardwareAddr) ([]byte, error) {
	body := make([]byte, 12) // hop limit, flags, lifetime(2), reachable(4), retrans(4)
	if len(mac) == 6 {
		body = append(body, 1, 1) // source link-layer address, 8 bytes
		body = append(body, mac...)
	}
	m := icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}
	b, err := m.Marshal(nil)
	if err != nil {
		return nil, fmt.Errorf("ndp: router advertisement: %w", err)
	}
	return b, nil
}
