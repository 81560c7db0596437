package dhcp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ConflictError says that another DHCP server answered on the segment.
type ConflictError struct {
	Interface string
	// Servers are the addresses that answered: the server identifier
	// (option 54) of each offer, else the source of the datagram.
	Servers []netip.Addr
}

func (e *ConflictError) Error() string {
	names := make([]string, len(e.Servers))
	for i, a := range e.Servers {
		names[i] = a.String()
	}
	on := ""
	if e.Interface != "" {
		on = " on " + e.Interface
	}
	return fmt.Sprintf("dhcp: another DHCP server answers%s: %s; stop it, or run with --proxy-dhcp to leave addresses to it",
		on, strings.Join(names, ", "))
}

// ErrConflict matches a *ConflictError with errors.Is.
var ErrConflict = errors.New("another DHCP server answers on the segment")

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

const defaultProbeWait = 4 * time.Second

// Probe broadcasts DHCPDISCOVERs from port 68 and returns the servers
// that offered within ProbeWait. One DISCOVER comes from a random,
// locally administered MAC, which a server with a dynamic pool answers;
// one comes from the first node's PXE MAC, which a server holding the
// same reservations (a second provision) answers. The offers reserve
// nothing that matters: a pool holds an offered address for a moment.
//
// Another server can share port 67 with us (insomniacslk's server4, for
// one, sets SO_REUSEPORT), so only asking on the wire tells.
func (s *Server) Probe(ctx context.Context) ([]netip.Addr, error) {
	conn, err := s.listen(ctx, ClientPort)
	if err != nil {
		// A DHCP client on the same interface may hold port 68.
		return nil, fmt.Errorf("dhcp: probe for other servers (--no-probe skips it): %w", err)
	}
	defer conn.Close()
	wait := s.ProbeWait
	if wait <= 0 {
		wait = defaultProbeWait
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	macs := []net.HardwareAddr{randomMAC()}
	if p := s.currentPlan(); p != nil {
		for _, n := range p.Nodes {
			if mac, err := net.ParseMAC(n.PXE.MAC); err == nil && n.PXE.Address.IsValid() {
				macs = append(macs, mac)
				break
			}
		}
	}
	xids := map[dhcpv4.TransactionID]bool{}
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: ServerPort}
	for _, mac := range macs {
		d, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithBroadcast(true))
		if err != nil {
			return nil, fmt.Errorf("dhcp: probe: %w", err)
		}
		xids[d.TransactionID] = true
		if _, err := conn.WriteTo(d.ToBytes(), bcast); err != nil {
			return nil, fmt.Errorf("dhcp: probe: send DISCOVER on %q: %w", s.Interface, err)
		}
	}
	if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, fmt.Errorf("dhcp: probe: %w", err)
	}
	var found []netip.Addr
	buf := make([]byte, maxPacket)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dhcp: probe: %w", ctx.Err())
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return found, nil
			}
			return nil, fmt.Errorf("dhcp: probe: read: %w", err)
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply || !xids[m.TransactionID] {
			continue
		}
		who, ok := addr4(m.ServerIdentifier())
		if !ok {
			if ua, isUDP := from.(*net.UDPAddr); isUDP {
				who = ua.AddrPort().Addr().Unmap()
			}
		}
		if who.IsValid() && !slices.Contains(found, who) {
			s.log().Warn("another DHCP server answered the probe", "ip", who, "interface", s.Interface)
			found = append(found, who)
		}
	}
}

// randomMAC is a unicast, locally administered MAC (IEEE 802: bit 1 of
// the first octet set, bit 0 clear).
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac)
	mac[0] = mac[0]&^1 | 2
	return mac
}
