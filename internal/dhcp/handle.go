package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

// Why a datagram is not a request this server reads.
var (
	errHWLen      = errors.New("hardware address length over 16")
	errNotRequest = errors.New("not a BOOTREQUEST")
)

// HandlePacket parses one datagram and handles it: it returns the reply's
// bytes and where to send them, or ok false when there is nothing to
// send. Malformed datagrams are counted and dropped. boot is true for a
// datagram that arrived on the PXE boot server port 4011.
func (s *Server) HandlePacket(raw []byte, peer netip.AddrPort, boot bool) (out []byte, dest netip.AddrPort, ok bool) {
	return s.handlePacket(nil, raw, peer, boot, newScratch())
}

// scratch is a worker's request and reply, reused for every datagram it
// handles: nothing of a request is kept once its reply is encoded.
type scratch struct {
	req                dhcpv4.DHCPv4
	reqOpts, replyOpts dhcpv4.Options
}

func newScratch() *scratch {
	return &scratch{reqOpts: make(dhcpv4.Options, 16), replyOpts: make(dhcpv4.Options, 20)}
}

// handlePacket is HandlePacket appending the reply to dst, so that a
// worker encodes every reply into the same buffer, and parsing and
// building in sc.
func (s *Server) handlePacket(dst, raw []byte, peer netip.AddrPort, boot bool, sc *scratch) (out []byte, dest netip.AddrPort, ok bool) {
	s.Counters.Received.Add(1)
	req, err := parseRequest(&sc.req, raw, sc.reqOpts)
	if err != nil {
		s.Counters.Malformed.Add(1)
		s.log().Debug("dropped malformed packet", "peer", peer, "bytes", len(raw), "err", err)
		return dst, dest, false
	}
	reply, dest := s.handle(req, peer, boot, sc.replyOpts)
	if reply == nil {
		return dst, dest, false
	}
	return appendPacket(dst, reply), dest, true
}

// msgType is option 53 of m. dhcpv4's MessageType allocates a decoder
// on every call.
func msgType(m *dhcpv4.DHCPv4) dhcpv4.MessageType {
	if v := m.Options[dhcpv4.OptionDHCPMessageType.Code()]; len(v) == 1 {
		return dhcpv4.MessageType(v[0])
	}
	return dhcpv4.MessageTypeNone
}

func parseRequest(req *dhcpv4.DHCPv4, raw []byte, opts dhcpv4.Options) (*dhcpv4.DHCPv4, error) {
	// RFC 2131 2: chaddr is 16 bytes; the library clamps a larger hlen
	// silently, but such a packet is not DHCP.
	if len(raw) > 2 && raw[2] > 16 {
		return nil, errHWLen
	}
	if err := parseInto(req, raw, opts); err != nil {
		return nil, err
	}
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, errNotRequest
	}
	return req, nil
}

// txn is one request being answered.
type txn struct {
	s   *Server
	req *dhcpv4.DHCPv4
	mt  dhcpv4.MessageType // the request's
	// replyOpts, when set, is the map the reply's options go in.
	replyOpts dhcpv4.Options
	plan      *provision.Plan
	idx       *macIndex
	node      *provision.NodePlan // nil for a MAC of no node
	client    BootClient
	mac       string
	now       time.Time
	sid       netip.Addr
}

// binding is the address a reply carries and the network it is on.
type binding struct {
	addr   netip.Addr
	prefix netip.Prefix // masked
	node   *provision.NodePlan
}

// Handle answers one parsed request. It returns nil when the request gets
// no reply. peer is where the request came from; boot is true for port
// 4011.
func (s *Server) Handle(req *dhcpv4.DHCPv4, peer netip.AddrPort, boot bool) (*dhcpv4.DHCPv4, netip.AddrPort) {
	return s.handle(req, peer, boot, nil)
}

// handle is Handle building the reply's options in replyOpts (cleared
// first) when it is set.
func (s *Server) handle(req *dhcpv4.DHCPv4, peer netip.AddrPort, boot bool, replyOpts dhcpv4.Options) (*dhcpv4.DHCPv4, netip.AddrPort) {
	plan := s.currentPlan()
	mt := msgType(req)
	if plan == nil || len(req.ClientHWAddr) != 6 || mt == dhcpv4.MessageTypeNone {
		// No plan yet, not Ethernet, or BOOTP without a message type.
		s.Counters.Ignored.Add(1)
		return nil, netip.AddrPort{}
	}
	t := &txn{s: s, req: req, mt: mt, replyOpts: replyOpts, plan: plan, client: Classify(req), now: s.now(), sid: s.serverID(plan)}
	t.idx = s.index(plan)
	t.node = t.idx.byMAC[string(req.ClientHWAddr)]
	t.mac = req.ClientHWAddr.String()
	var reply *dhcpv4.DHCPv4
	switch {
	case boot:
		reply = t.bootServer()
	case s.ProxyDHCP:
		if mt == dhcpv4.MessageTypeDiscover {
			reply = t.proxyOffer()
		}
	case mt == dhcpv4.MessageTypeDiscover:
		reply = t.discover()
	case mt == dhcpv4.MessageTypeRequest:
		reply = t.request()
	case mt == dhcpv4.MessageTypeDecline:
		t.decline()
	case mt == dhcpv4.MessageTypeRelease:
		t.release()
	case mt == dhcpv4.MessageTypeInform:
		reply = t.inform()
	}
	if reply == nil {
		if mt != dhcpv4.MessageTypeDecline && mt != dhcpv4.MessageTypeRelease {
			s.Counters.Ignored.Add(1)
		}
		return nil, netip.AddrPort{}
	}
	switch msgType(reply) {
	case dhcpv4.MessageTypeOffer:
		s.Counters.Offers.Add(1)
	case dhcpv4.MessageTypeAck:
		s.Counters.Acks.Add(1)
	case dhcpv4.MessageTypeNak:
		s.Counters.Naks.Add(1)
	}
	return reply, ReplyDest(req, reply, peer, boot)
}

// nodeBinding is the node's reserved address.
func (t *txn) nodeBinding() *binding {
	return &binding{addr: t.node.PXE.Address, prefix: t.node.PXE.Prefix.Masked(), node: t.node}
}

// poolBinding places a pool address in the management network.
func (t *txn) poolBinding(a netip.Addr) *binding {
	var pfx netip.Prefix
	if m := t.plan.ManagementNetwork(); m != nil {
		pfx = m.Prefix.Masked()
	}
	return &binding{addr: a, prefix: pfx}
}

// onSegment checks a relayed request: the relay's address must be on the
// network of the address we would give, else the client is on another
// segment and the address would not work there.
func (t *txn) onSegment(b *binding) bool {
	gi, ok := addr4(t.req.GatewayIPAddr)
	if !ok || b.prefix.Contains(gi) {
		return true
	}
	t.s.Counters.WrongSubnet.Add(1)
	t.s.log().Warn("relayed request from another subnet", "mac", t.mac, "giaddr", gi, "ip", b.addr)
	return false
}

// unknownMAC counts a MAC of no node and reports it once per interval.
func (t *txn) unknownMAC() {
	s := t.s
	s.Counters.Unknown.Add(1)
	if !s.seen.first(t.mac, t.now, discoveredEvery) {
		return
	}
	s.Counters.Discovered.Add(1)
	attrs := map[string]string{"firmware": t.client.Firmware.String()}
	if t.client.VendorClass != "" {
		attrs["vendor_class"] = t.client.VendorClass
	}
	if t.client.HasArch {
		attrs["arch"] = strconv.Itoa(int(t.client.Arch))
	}
	if t.client.IPXE {
		attrs["user_class"] = "iPXE"
	}
	if gi, ok := addr4(t.req.GatewayIPAddr); ok {
		attrs["relay"] = gi.String()
	}
	s.log().Info("discovered an unknown MAC", "mac", t.mac, "firmware", t.client.Firmware, "vendor_class", t.client.VendorClass)
	s.emit(provision.Event{Source: "dhcp", Kind: "discovered", MAC: t.mac, Msg: "DHCP " + t.mt.String() + " from a MAC of no node", Attrs: attrs})
}

// boot is the boot part of a reply to this client.
func (t *txn) boot() Boot {
	if t.node == nil {
		return Boot{}
	}
	return BootReply(t.client, t.node, t.s.netboot(t.node), t.s.Files, t.sid, t.plan.Site.ApplianceURL, t.mac)
}

// leaseEvent records an ACK as an event of the node.
func (t *txn) leaseEvent(b *binding, boot Boot) {
	s := t.s
	name := ""
	if b.node != nil {
		name = b.node.Name
	}
	attrs := map[string]string{"firmware": t.client.Firmware.String()}
	if boot.File != "" {
		attrs["boot_file"] = boot.File
	}
	if t.client.IPXE {
		attrs["user_class"] = "iPXE"
	}
	if gi, ok := addr4(t.req.GatewayIPAddr); ok {
		attrs["relay"] = gi.String()
	}
	// The lease is the node's event; the log line is for debugging, and
	// is not built unless wanted: at thousands of leases a second it
	// would cost more than the reply.
	if l := s.log(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("lease", "node", name, "mac", t.mac, "ip", b.addr, "boot", boot.File)
	}
	s.emit(provision.Event{Node: name, Source: "dhcp", Kind: "lease", MAC: t.mac, IP: b.addr.String(), Attrs: attrs})
}
