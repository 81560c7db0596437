package dhcp

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Ports of RFC 2131 and of the PXE specification.
const (
	ServerPort    = 67
	ClientPort    = 68
	PXEServerPort = 4011
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// ReplyDest chooses where a reply goes, by RFC 2131 section 4.1. peer is
// the address the request came from; boot is true when it arrived on the
// PXE boot server port 4011. It is a pure function.
func ReplyDest(req, reply *dhcpv4.DHCPv4, peer netip.AddrPort, boot bool) netip.AddrPort {
	// PXE specification 2.2.4: a request to the boot server port is
	// answered to the port and address it came from.
	if boot {
		return peer
	}
	// RFC 2131 4.1: a relayed request is answered to giaddr:67, the relay
	// agent, which passes it on to the client.
	if giaddr, ok := addr4(req.GatewayIPAddr); ok {
		return netip.AddrPortFrom(giaddr, ServerPort)
	}
	// RFC 2131 4.1: "when giaddr is zero, the server broadcasts any
	// DHCPNAK messages to 0xffffffff".
	if msgType(reply) == dhcpv4.MessageTypeNak {
		return netip.AddrPortFrom(limitedBroadcast, ClientPort)
	}
	// RFC 2131 4.1: a client with an address (renewing, rebinding, or
	// sending DHCPINFORM, 4.3.5) is answered by unicast to ciaddr.
	if ciaddr, ok := addr4(req.ClientIPAddr); ok {
		return netip.AddrPortFrom(ciaddr, ClientPort)
	}
	// RFC 2131 4.1: with the broadcast bit set, broadcast. Without it the
	// RFC asks for unicast to yiaddr at chaddr, which needs an ARP entry a
	// UDP socket cannot make; it allows a broadcast when unicast is not
	// possible, so both cases broadcast.
	return netip.AddrPortFrom(limitedBroadcast, ClientPort)
}

// addr4 returns ip as an IPv4 address when it is set and not 0.0.0.0.
func addr4(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}
