package dhcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestReplyDest(t *testing.T) {
	peer := netip.MustParseAddrPort("10.3.1.77:68")
	bcast := netip.MustParseAddrPort("255.255.255.255:68")
	tests := []struct {
		name      string
		ciaddr    string
		giaddr    string
		broadcast bool
		reply     dhcpv4.MessageType
		boot      bool
		want      netip.AddrPort
	}{
		{name: "new client, broadcast bit: broadcast", broadcast: true, reply: dhcpv4.MessageTypeOffer, want: bcast},
		{name: "new client, no broadcast bit: broadcast (no ARP from a UDP socket)", reply: dhcpv4.MessageTypeOffer, want: bcast},
		{name: "renewal: unicast to ciaddr", ciaddr: "10.3.1.40", reply: dhcpv4.MessageTypeAck, want: netip.MustParseAddrPort("10.3.1.40:68")},
		{name: "renewal with broadcast bit: still ciaddr", ciaddr: "10.3.1.40", broadcast: true, reply: dhcpv4.MessageTypeAck, want: netip.MustParseAddrPort("10.3.1.40:68")},
		{name: "inform: unicast to ciaddr", ciaddr: "10.3.1.99", reply: dhcpv4.MessageTypeAck, want: netip.MustParseAddrPort("10.3.1.99:68")},
		{name: "relayed: to the relay on port 67", giaddr: "10.3.1.1", reply: dhcpv4.MessageTypeOffer, want: netip.MustParseAddrPort("10.3.1.1:67")},
		{name: "relayed renewal: still the relay", giaddr: "10.3.1.1", ciaddr: "10.3.1.40", reply: dhcpv4.MessageTypeAck, want: netip.MustParseAddrPort("10.3.1.1:67")},
		{name: "relayed NAK: to the relay", giaddr: "10.3.1.1", reply: dhcpv4.MessageTypeNak, want: netip.MustParseAddrPort("10.3.1.1:67")},
		{name: "NAK with ciaddr: broadcast", ciaddr: "10.3.1.40", reply: dhcpv4.MessageTypeNak, want: bcast},
		{name: "NAK: broadcast", reply: dhcpv4.MessageTypeNak, want: bcast},
		{name: "PXE boot server port: back to the sender", boot: true, ciaddr: "10.3.1.40", reply: dhcpv4.MessageTypeAck, want: peer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &dhcpv4.DHCPv4{ClientIPAddr: net.ParseIP(tt.ciaddr), GatewayIPAddr: net.ParseIP(tt.giaddr), Options: dhcpv4.Options{}}
			if tt.broadcast {
				req.SetBroadcast()
			}
			reply := &dhcpv4.DHCPv4{Options: dhcpv4.Options{}}
			reply.UpdateOption(dhcpv4.OptMessageType(tt.reply))
			if got := ReplyDest(req, reply, peer, tt.boot); got != tt.want {
				t.Errorf("ReplyDest = %s, want %s", got, tt.want)
			}
		})
	}
}
