package dhcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

// newReply starts a reply to t.req with the header fields RFC 2131 table 3
// copies from the request, option 53 and the server identifier.
func (t *txn) newReply(mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	req := t.req
	opts := t.replyOpts
	if opts == nil {
		opts = make(dhcpv4.Options, 20)
	}
	clear(opts)
	r := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		ClientIPAddr:  net.IPv4zero.To4(),
		YourIPAddr:    net.IPv4zero.To4(),
		ServerIPAddr:  net.IPv4zero.To4(),
		Options:       opts,
	}
	r.Options[dhcpv4.OptionDHCPMessageType.Code()] = []byte{byte(mt)}
	// RFC 2132 9.7: every OFFER, ACK and NAK carries the server
	// identifier.
	r.Options[dhcpv4.OptionServerIdentifier.Code()] = ip4(t.sid)
	// RFC 6842: echo the client identifier; RFC 3046 2.2: echo the relay
	// agent information.
	for _, code := range []uint8{dhcpv4.OptionClientIdentifier.Code(), dhcpv4.OptionRelayAgentInformation.Code()} {
		if v, ok := req.Options[code]; ok {
			r.Options[code] = v
		}
	}
	return r
}

// addressOptions fills yiaddr (unless for INFORM) and the network
// options of a binding: mask, router, DNS, domain, hostname, NTP and, with
// lease, the lease time and its renewal times (RFC 2131 4.4.5). A node's
// values were encoded when its plan was indexed.
func (t *txn) addressOptions(r *dhcpv4.DHCPv4, b *binding, lease bool) {
	o := r.Options
	if lease {
		l := t.idx.lease
		if d := t.s.leaseTime(); d != t.idx.leaseFor {
			l = leaseOptions(d)
		}
		o[dhcpv4.OptionIPAddressLeaseTime.Code()] = l[0]
		o[dhcpv4.OptionRenewTimeValue.Code()] = l[1]
		o[dhcpv4.OptionRebindingTimeValue.Code()] = l[2]
	}
	no := t.idx.opts[b.node]
	if no == nil {
		no = t.bindingOptions(b)
	}
	if lease {
		r.YourIPAddr = no.yiaddr
	}
	set := func(code dhcpv4.OptionCode, v []byte) {
		if len(v) > 0 {
			o[code.Code()] = v
		}
	}
	set(dhcpv4.OptionSubnetMask, no.mask)
	set(dhcpv4.OptionRouter, no.router)
	set(dhcpv4.OptionDomainNameServer, no.dns)
	set(dhcpv4.OptionNTPServers, no.ntp)
	set(dhcpv4.OptionHostName, no.host)
	set(dhcpv4.OptionDomainName, no.domain)
}

// bindingOptions are the option values of a binding that is no node's:
// a pool address, or an INFORM from an address of no node.
func (t *txn) bindingOptions(b *binding) *nodeOptions {
	o := &nodeOptions{yiaddr: ip4(b.addr)}
	if b.prefix.IsValid() {
		o.mask = net.CIDRMask(b.prefix.Bits(), 32)
	}
	if m := t.plan.ManagementNetwork(); m != nil && m.Gateway.IsValid() && b.prefix.Contains(m.Gateway) {
		o.router = ip4(m.Gateway)
	}
	o.dns = ips([]netip.Addr{t.plan.Site.ApplianceAddr})
	o.ntp = o.dns
	if b.node != nil {
		o.dns, o.ntp, o.host = ips(b.node.DNS), ips(b.node.NTP), []byte(b.node.Name)
	}
	if d := t.plan.Site.Domain; d != "" {
		o.domain = []byte(d)
	}
	return o
}

// pxeDiscoveryControl is option 43 for PXE clients of a ProxyDHCP server:
// suboption 6 (PXE_DISCOVERY_CONTROL) = 8, "download the boot file named
// in this offer" instead of discovering boot servers (PXE spec 2.1, table
// 2-1), then End.
var pxeDiscoveryControl = []byte{6, 1, 8, 255}

// ipxeNoPXEDHCP is option 175 carrying iPXE's suboption 176 (no-pxedhcp)
// = 1: do not wait for ProxyDHCP offers.
var ipxeNoPXEDHCP = []byte{176, 1, 1}

// bootOptions writes siaddr, the file field, options 66 and 67, and the
// vendor options the client's firmware needs.
func (t *txn) bootOptions(r *dhcpv4.DHCPv4, b Boot, proxy bool) {
	o := r.Options
	if b.File == "" {
		return
	}
	if b.Server.IsValid() {
		r.ServerIPAddr = ip4(b.Server)
		o[dhcpv4.OptionTFTPServerName.Code()] = []byte(b.Server.String())
	}
	// The file field holds 127 characters; a longer URL goes in option
	// 67 only, which every client we serve reads.
	if len(b.File) < 128 {
		r.BootFileName = b.File
	}
	o[dhcpv4.OptionBootfileName.Code()] = []byte(b.File)
	if b.VendorClass != "" {
		o[dhcpv4.OptionClassIdentifier.Code()] = []byte(b.VendorClass)
	}
	if proxy {
		if b.VendorClass == "" {
			// PXE spec 2.2.3: a ProxyDHCP offer identifies itself as
			// PXEClient and carries the discovery control.
			o[dhcpv4.OptionClassIdentifier.Code()] = []byte("PXEClient")
			o[dhcpv4.OptionVendorSpecificInformation.Code()] = pxeDiscoveryControl
		}
		if g, ok := t.req.Options[dhcpv4.OptionClientMachineIdentifier.Code()]; ok {
			o[dhcpv4.OptionClientMachineIdentifier.Code()] = g
		}
		return
	}
	if b.NoProxyWait {
		o[175] = ipxeNoPXEDHCP
	}
}

func ip4(a netip.Addr) net.IP {
	if !a.Is4() {
		return net.IPv4zero.To4()
	}
	b := a.As4()
	return net.IP(b[:])
}

func ips(as []netip.Addr) []byte {
	var out []byte
	for _, a := range as {
		if a.Is4() {
			b := a.As4()
			out = append(out, b[:]...)
		}
	}
	return out
}

func seconds(d time.Duration) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))
}

// provisionEvent is an event of t's node.
func provisionEvent(t *txn, kind, ip, msg string) provision.Event {
	e := provision.Event{Source: "dhcp", Kind: kind, MAC: t.mac, IP: ip, Msg: msg}
	if t.node != nil {
		e.Node = t.node.Name
	}
	return e
}
