package dhcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

func mustMAC(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// msg builds a client message of type mt from mac.
func msg(t testing.TB, mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mustMAC(t, mac)), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	pxeBIOS   = dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	archBIOS  = dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})
	serverID  = dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 3, 1, 10)))
	otherSID  = dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 3, 1, 2)))
	askFor40  = dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 3, 1, 40)))
	askFor41  = dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 3, 1, 41)))
	ciaddr40  = dhcpv4.WithClientIP(net.IPv4(10, 3, 1, 40))
	ciaddr99  = dhcpv4.WithClientIP(net.IPv4(10, 3, 1, 99))
	peerBcast = netip.MustParseAddrPort("0.0.0.0:68")
)

// TestHandle follows each message type of RFC 2131 4.3 and the PXE
// ProxyDHCP exchanges through the handler.
func TestHandle(t *testing.T) {
	plan := testPlan(t)
	type want struct {
		Type   string
		YIAddr string
		Dest   string
		File   string
		Event  string
	}
	tests := []struct {
		name  string
		proxy bool
		boot  bool
		req   *dhcpv4.DHCPv4
		peer  netip.AddrPort
		want  want
	}{
		{name: "discover from a node: offer, broadcast", req: msg(t, dhcpv4.MessageTypeDiscover, macCompute01, pxeBIOS, archBIOS),
			want: want{Type: "OFFER", YIAddr: "10.3.1.40", Dest: "255.255.255.255:68", File: DefaultBIOSFile}},
		{name: "request selecting: ack and a lease event", req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, pxeBIOS, archBIOS, serverID, askFor40),
			want: want{Type: "ACK", YIAddr: "10.3.1.40", Dest: "255.255.255.255:68", File: DefaultBIOSFile, Event: "lease compute01 10.3.1.40"}},
		{name: "request for another server's offer: silent", req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, otherSID, askFor40)},
		{name: "init-reboot asking a wrong address: NAK broadcast", req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, askFor41),
			want: want{Type: "NAK", YIAddr: "0.0.0.0", Dest: "255.255.255.255:68"}},
		{name: "renewal: ack unicast to ciaddr", req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, ciaddr40), peer: netip.MustParseAddrPort("10.3.1.40:68"),
			want: want{Type: "ACK", YIAddr: "10.3.1.40", Dest: "10.3.1.40:68", Event: "lease compute01 10.3.1.40"}},
		{name: "decline: no reply, an event", req: msg(t, dhcpv4.MessageTypeDecline, macCompute01, askFor40),
			want: want{Event: "decline compute01 10.3.1.40"}},
		{name: "release: no reply, an event", req: msg(t, dhcpv4.MessageTypeRelease, macCompute01, ciaddr40),
			want: want{Event: "release compute01 10.3.1.40"}},
		{name: "inform: ack without an address, unicast", req: msg(t, dhcpv4.MessageTypeInform, macCompute01, ciaddr40), peer: netip.MustParseAddrPort("10.3.1.40:68"),
			want: want{Type: "ACK", YIAddr: "0.0.0.0", Dest: "10.3.1.40:68"}},
		{name: "inform from outside the network: silent", req: msg(t, dhcpv4.MessageTypeInform, macCompute01, dhcpv4.WithClientIP(net.IPv4(10, 9, 9, 9)))},
		{name: "unknown MAC: silent, discovered", req: msg(t, dhcpv4.MessageTypeDiscover, macUnknown, pxeBIOS),
			want: want{Event: "discovered  "}},
		{name: "unknown MAC inform: ack, no address", req: msg(t, dhcpv4.MessageTypeInform, macUnknown, ciaddr99),
			want: want{Type: "ACK", YIAddr: "0.0.0.0", Dest: "10.3.1.99:68"}},
		{name: "proxy: PXE discover gets boot only", proxy: true, req: msg(t, dhcpv4.MessageTypeDiscover, macCompute01, pxeBIOS, archBIOS),
			want: want{Type: "OFFER", YIAddr: "0.0.0.0", Dest: "255.255.255.255:68", File: DefaultBIOSFile}},
		{name: "proxy: plain discover: silent", proxy: true, req: msg(t, dhcpv4.MessageTypeDiscover, macCompute01)},
		{name: "proxy: request on 67: silent (the other server acks)", proxy: true, req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, pxeBIOS, askFor40)},
		{name: "proxy: request on 4011: ack to the sender", proxy: true, boot: true,
			req: msg(t, dhcpv4.MessageTypeRequest, macCompute01, pxeBIOS, archBIOS, ciaddr40), peer: netip.MustParseAddrPort("10.3.1.40:4011"),
			want: want{Type: "ACK", YIAddr: "0.0.0.0", Dest: "10.3.1.40:4011", File: DefaultBIOSFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, events := testServer(plan)
			s.ProxyDHCP = tt.proxy
			peer := tt.peer
			if !peer.IsValid() {
				peer = peerBcast
			}
			reply, dest := s.Handle(tt.req, peer, tt.boot)
			var got want
			if reply != nil {
				got = want{Type: reply.MessageType().String(), YIAddr: reply.YourIPAddr.String(), Dest: dest.String(), File: reply.BootFileName}
				if sid := reply.ServerIdentifier(); !sid.Equal(net.IPv4(10, 3, 1, 10)) {
					t.Errorf("server identifier %v", sid)
				}
			}
			if len(*events) > 0 {
				e := (*events)[0]
				got.Event = e.Kind + " " + e.Node + " " + e.IP
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestNetbootOffGetsAddressOnly: a node whose netboot is off still gets
// its address, and no boot file, so its firmware boots the local disk.
func TestNetbootOffGetsAddressOnly(t *testing.T) {
	s, _ := testServer(testPlan(t))
	s.Netboot = func(*provision.NodePlan) bool { return false }
	reply, _ := s.Handle(msg(t, dhcpv4.MessageTypeDiscover, macCompute01, pxeBIOS, archBIOS), peerBcast, false)
	if reply == nil || reply.YourIPAddr.String() != "10.3.1.40" || reply.BootFileName != "" || reply.Options.Has(dhcpv4.OptionBootfileName) {
		t.Fatalf("reply %v", reply)
	}
}

// TestPoolLeasesUnknownMAC: with a dynamic pool an unknown MAC is offered
// a pool address, and its REQUEST for it is acknowledged.
func TestPoolLeasesUnknownMAC(t *testing.T) {
	s, events := testServer(testPlan(t))
	pool, err := ParsePool("10.3.1.150-10.3.1.151")
	if err != nil {
		t.Fatal(err)
	}
	s.Pool = pool
	offer, _ := s.Handle(msg(t, dhcpv4.MessageTypeDiscover, macUnknown), peerBcast, false)
	if offer == nil || offer.YourIPAddr.String() != "10.3.1.150" || offer.BootFileName != "" {
		t.Fatalf("offer %v", offer)
	}
	ack, _ := s.Handle(msg(t, dhcpv4.MessageTypeRequest, macUnknown, serverID,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))), peerBcast, false)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("ack %v", ack)
	}
	kinds := []string{}
	for _, e := range *events {
		kinds = append(kinds, e.Kind)
	}
	if d := cmp.Diff([]string{"discovered", "lease"}, kinds); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

// TestReload: after Reload, a MAC the new plan gives a node is answered;
// the old plan did not know it.
func TestReload(t *testing.T) {
	plan := testPlan(t)
	s, _ := testServer(plan)
	d := msg(t, dhcpv4.MessageTypeDiscover, macUnknown)
	if r, _ := s.Handle(d, peerBcast, false); r != nil {
		t.Fatalf("unknown MAC answered before the reload: %v", r.Summary())
	}
	next := testPlanWith(t, map[string]map[string]string{"compute02": {"em1": macUnknown}})
	if err := s.Reload(next); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Handle(d, peerBcast, false)
	if r == nil || r.YourIPAddr.String() != "10.3.1.41" {
		t.Fatalf("after reload: %v", r)
	}
	if err := s.Reload(nil); err == nil {
		t.Error("Reload(nil) succeeded")
	}
}
