package dhcp

import (
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// discover answers DHCPDISCOVER (RFC 2131 4.3.1).
func (t *txn) discover() *dhcpv4.DHCPv4 {
	var b *binding
	switch {
	case t.node != nil:
		b = t.nodeBinding()
	case t.s.Pool != nil:
		t.unknownMAC()
		a, ok := t.s.Pool.Offer(t.mac, t.now)
		if !ok {
			t.s.log().Warn("dynamic pool exhausted", "mac", t.mac)
			return nil
		}
		b = t.poolBinding(a)
	default:
		t.unknownMAC()
		return nil
	}
	if !t.onSegment(b) {
		return nil
	}
	r := t.newReply(dhcpv4.MessageTypeOffer)
	t.addressOptions(r, b, true)
	t.bootOptions(r, t.boot(), false)
	return r
}

// request answers DHCPREQUEST in each client state of RFC 2131 4.3.2.
func (t *txn) request() *dhcpv4.DHCPv4 {
	req := t.req
	sid, hasSID := addr4(req.ServerIdentifier())
	if hasSID && sid != t.sid {
		// SELECTING: the client took another server's offer.
		return nil
	}
	// The address asked for: option 50 when SELECTING or INIT-REBOOT,
	// ciaddr when RENEWING or REBINDING.
	want, ok := addr4(req.RequestedIPAddress())
	if !ok {
		want, ok = addr4(req.ClientIPAddr)
	}
	if !ok {
		return nil
	}
	var b *binding
	switch {
	case t.node != nil:
		b = t.nodeBinding()
	case t.s.Pool != nil:
		p := t.s.Pool
		if want.Less(p.First) || p.Last.Less(want) {
			// RFC 2131 4.3.2: no record of this client: remain silent.
			t.unknownMAC()
			return nil
		}
		b = t.poolBinding(want)
		if !p.Lease(t.mac, want, t.now, t.s.leaseTime()) {
			return t.nak("address not available")
		}
	default:
		t.unknownMAC()
		return nil
	}
	if !t.onSegment(b) {
		return nil
	}
	if want != b.addr {
		// RFC 2131 4.3.2: the client asks for an address that is not
		// its own (it moved, or the site changed): NAK so it starts over.
		return t.nak("requested address is not this client's")
	}
	r := t.newReply(dhcpv4.MessageTypeAck)
	// RFC 2131 table 3: ciaddr of an ACK is the request's.
	r.ClientIPAddr = req.ClientIPAddr
	t.addressOptions(r, b, true)
	boot := t.boot()
	t.bootOptions(r, boot, false)
	t.leaseEvent(b, boot)
	return r
}

// nak refuses a REQUEST (RFC 2131 table 3: no yiaddr, no lease options).
func (t *txn) nak(why string) *dhcpv4.DHCPv4 {
	r := t.newReply(dhcpv4.MessageTypeNak)
	r.Options[dhcpv4.OptionMessage.Code()] = []byte(why)
	// RFC 2131 4.1: a NAK through a relay has the broadcast bit set, so
	// the relay broadcasts it to the client.
	if _, ok := addr4(t.req.GatewayIPAddr); ok {
		r.SetBroadcast()
	}
	t.s.log().Info("nak", "mac", t.mac, "why", why)
	return r
}

// decline records that the client found its address in use (RFC 2131
// 4.3.3): another host holds a node's address, which an operator must fix.
func (t *txn) decline() {
	s := t.s
	s.Counters.Declines.Add(1)
	addr, _ := addr4(t.req.RequestedIPAddress())
	if t.node == nil {
		if s.Pool != nil && addr.IsValid() {
			s.Pool.Decline(t.mac, addr, t.now)
		}
		return
	}
	s.log().Warn("node declined its address: another host answers ARP for it", "node", t.node.Name, "mac", t.mac, "ip", addr)
	s.emit(provisionEvent(t, "decline", addr.String(), "address in use by another host"))
}

// release records a client giving its address back (RFC 2131 4.3.4).
func (t *txn) release() {
	s := t.s
	s.Counters.Releases.Add(1)
	if t.node == nil {
		if s.Pool != nil {
			s.Pool.Release(t.mac)
		}
		return
	}
	ip, _ := addr4(t.req.ClientIPAddr)
	s.emit(provisionEvent(t, "release", ip.String(), ""))
}

// inform answers DHCPINFORM (RFC 2131 4.3.5): configuration for a client
// that has its address already, with no yiaddr and no lease time.
func (t *txn) inform() *dhcpv4.DHCPv4 {
	ci, ok := addr4(t.req.ClientIPAddr)
	if !ok {
		return nil
	}
	var b *binding
	if t.node != nil {
		b = t.nodeBinding()
	} else {
		b = t.poolBinding(ci)
	}
	if !b.prefix.Contains(ci) {
		return nil
	}
	t.s.Counters.Informs.Add(1)
	r := t.newReply(dhcpv4.MessageTypeAck)
	r.ClientIPAddr = t.req.ClientIPAddr
	t.addressOptions(r, b, false)
	t.bootOptions(r, t.boot(), false)
	return r
}

// proxyOffer is the ProxyDHCP answer on port 67 (PXE specification 2.2.3):
// an offer without an address, with the boot information only.
func (t *txn) proxyOffer() *dhcpv4.DHCPv4 {
	if !t.client.PXE() {
		return nil
	}
	if t.node == nil {
		t.unknownMAC()
		return nil
	}
	boot := t.boot()
	if boot.File == "" {
		return nil
	}
	r := t.newReply(dhcpv4.MessageTypeOffer)
	t.bootOptions(r, boot, true)
	return r
}

// bootServer answers a request to the PXE boot server port 4011 (PXE
// specification 2.2.4) with the boot information, never an address.
func (t *txn) bootServer() *dhcpv4.DHCPv4 {
	mt := t.mt
	if mt != dhcpv4.MessageTypeRequest && mt != dhcpv4.MessageTypeInform {
		return nil
	}
	if t.node == nil || !t.client.PXE() {
		return nil
	}
	boot := t.boot()
	if boot.File == "" {
		return nil
	}
	r := t.newReply(dhcpv4.MessageTypeAck)
	r.ClientIPAddr = t.req.ClientIPAddr
	t.bootOptions(r, boot, true)
	return r
}
