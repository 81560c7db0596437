package dhcp

import (
	"bytes"
	"errors"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Why a datagram does not parse.
var (
	errShort     = errors.New("shorter than a DHCP header")
	errCookie    = errors.New("bad magic cookie")
	errOptionEnd = errors.New("an option runs past the end")
	errNoEnd     = errors.New("options without an End option")
)

// headerLen is the fixed BOOTP header and the magic cookie (RFC 2131 2).
const headerLen = 240

// parsePacket decodes a datagram as dhcpv4.FromBytes does, to the same
// message (a test holds the two equal on every datagram of testdata and
// of the fuzzer), without copying: the addresses, chaddr and option
// values are slices of raw, so the message lives only as long as raw is
// not reused. It allocates the option map and the server and file names
// when they are set; a repeated option (RFC 3396) is joined into a copy.
func parsePacket(raw []byte) (*dhcpv4.DHCPv4, error) {
	p := new(dhcpv4.DHCPv4)
	if err := parseInto(p, raw, make(dhcpv4.Options, 16)); err != nil {
		return nil, err
	}
	return p, nil
}

// parseInto is parsePacket into p, with opts (cleared first) as its
// option map: a worker parses every request into the same message.
func parseInto(p *dhcpv4.DHCPv4, raw []byte, opts dhcpv4.Options) error {
	if len(raw) < headerLen {
		return errShort
	}
	if [4]byte(raw[236:240]) != magicCookie {
		return errCookie
	}
	hlen := min(int(raw[2]), 16)
	clear(opts)
	*p = dhcpv4.DHCPv4{
		OpCode:         dhcpv4.OpcodeType(raw[0]),
		HWType:         iana.HWType(raw[1]),
		HopCount:       raw[3],
		TransactionID:  dhcpv4.TransactionID(raw[4:8]),
		NumSeconds:     uint16(raw[8])<<8 | uint16(raw[9]),
		Flags:          uint16(raw[10])<<8 | uint16(raw[11]),
		ClientIPAddr:   net.IP(raw[12:16:16]),
		YourIPAddr:     net.IP(raw[16:20:20]),
		ServerIPAddr:   net.IP(raw[20:24:24]),
		GatewayIPAddr:  net.IP(raw[24:28:28]),
		ClientHWAddr:   net.HardwareAddr(raw[28 : 28+hlen : 28+hlen]),
		ServerHostName: cString(raw[44:108]),
		BootFileName:   cString(raw[108:236]),
		Options:        opts,
	}
	return parseOptions(opts, raw[headerLen:])
}

// parseOptions reads options into o up to the End option, which must be
// there unless there are no options at all.
func parseOptions(o dhcpv4.Options, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for len(b) > 0 {
		code := b[0]
		b = b[1:]
		switch code {
		case byte(dhcpv4.OptionPad):
			continue
		case byte(dhcpv4.OptionEnd):
			return nil
		}
		if len(b) == 0 {
			return errNoEnd
		}
		n := int(b[0])
		b = b[1:]
		if n > len(b) {
			return errOptionEnd
		}
		v := b[:n:n]
		b = b[n:]
		if old, ok := o[code]; ok {
			// RFC 2131 4.1 and RFC 3396: the instances of an option
			// are concatenated. v's capacity ends at its length, so
			// append copies instead of writing into raw.
			v = append(old, v...)
		}
		o[code] = v
	}
	return errNoEnd
}

// cString is a NUL-terminated field as a string.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return ""
	}
	return string(b)
}
