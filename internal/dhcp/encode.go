package dhcp

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// bootpMinLen is the smallest message sent: RFC 951's BOOTP message is 300
// bytes, and some relays drop shorter ones.
const bootpMinLen = 300

var magicCookie = [4]byte{99, 130, 83, 99}

// appendPacket appends d encoded as dhcpv4's ToBytes encodes it (the same
// bytes: fixed header, the options by code with the relay agent
// information last as RFC 3046 2.1 asks, End, padding to 300 bytes),
// without its intermediate buffers and sorted copies, so that a worker
// encodes every reply into the same buffer.
func appendPacket(dst []byte, d *dhcpv4.DHCPv4) []byte {
	start := len(dst)
	dst = append(dst, byte(d.OpCode), byte(d.HWType), byte(len(d.ClientHWAddr)), d.HopCount)
	dst = append(dst, d.TransactionID[:]...)
	dst = append(dst, byte(d.NumSeconds>>8), byte(d.NumSeconds), byte(d.Flags>>8), byte(d.Flags))
	for _, ip := range []net.IP{d.ClientIPAddr, d.YourIPAddr, d.ServerIPAddr, d.GatewayIPAddr} {
		dst = appendIP(dst, ip)
	}
	dst = appendField(dst, d.ClientHWAddr, 16, 16)
	dst = appendField(dst, []byte(d.ServerHostName), 63, 64)
	dst = appendField(dst, []byte(d.BootFileName), 127, 128)
	dst = append(dst, magicCookie[:]...)
	dst = appendOptions(dst, d.Options)
	dst = append(dst, byte(dhcpv4.OptionEnd))
	for len(dst)-start < bootpMinLen {
		dst = append(dst, byte(dhcpv4.OptionPad))
	}
	return dst
}

// appendIP appends the 4 bytes of an IPv4 address, zeros for anything
// else.
func appendIP(dst []byte, ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		return append(dst, v4...)
	}
	return append(dst, 0, 0, 0, 0)
}

// appendField appends a fixed-size field of size bytes holding at most
// max bytes of v, zero-padded.
func appendField(dst, v []byte, max, size int) []byte {
	if len(v) > max {
		v = v[:max]
	}
	dst = append(dst, v...)
	for range size - len(v) {
		dst = append(dst, 0)
	}
	return dst
}

// appendOptions appends the options in code order, option 82 last, and
// an option longer than 255 bytes as several instances (RFC 3396). Pad
// and End in the map are not written.
func appendOptions(dst []byte, o dhcpv4.Options) []byte {
	var codes [256]bool
	for c := range o {
		codes[c] = true
	}
	agent := dhcpv4.OptionRelayAgentInformation.Code()
	for c := 1; c < 255; c++ {
		if codes[c] && uint8(c) != agent {
			dst = appendOption(dst, uint8(c), o[uint8(c)])
		}
	}
	if codes[agent] {
		dst = appendOption(dst, agent, o[agent])
	}
	return dst
}

func appendOption(dst []byte, code uint8, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, code, 0)
	}
	for len(v) > 0 {
		n := min(len(v), 255)
		dst = append(dst, code, byte(n))
		dst = append(dst, v[:n]...)
		v = v[n:]
	}
	return dst
}
