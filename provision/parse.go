package provision

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// expandX replaces an address component written "x" (as the paper writes
// the third octet) by the site's x.
func expandX(s string, x int) string {
	if !strings.Contains(s, "x") {
		return s
	}
	addr, suffix, _ := strings.Cut(s, "/")
	parts := strings.Split(addr, ".")
	for i, p := range parts {
		if p == "x" {
			parts[i] = strconv.Itoa(x)
		}
	}
	out := strings.Join(parts, ".")
	if suffix != "" {
		out += "/" + suffix
	}
	return out
}

// ParseAddr parses an IPv4 or IPv6 address, with "x" components expanded.
func ParseAddr(s string, x int) (netip.Addr, error) {
	a, err := netip.ParseAddr(expandX(strings.TrimSpace(s), x))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// ParsePrefix parses a network in CIDR form, with "x" components expanded.
// The address must be the network's own (10.3.1.0/24, not 10.3.1.5/24).
func ParsePrefix(s string, x int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(expandX(strings.TrimSpace(s), x))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network in CIDR form (like 10.3.x.0/24)", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (network is %s)", s, p.Masked())
	}
	return p, nil
}

// ParseMAC parses a 6-byte Ethernet MAC in any form net.ParseMAC takes and
// returns it lower-case, colon-separated.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%q is not an Ethernet MAC address", s)
	}
	if hw[0]&1 == 1 {
		return "", fmt.Errorf("%q is a multicast address, not a NIC's", s)
	}
	return hw.String(), nil
}

// ParseSize parses a disk size such as 120GB, 0.9TB or 900G (decimal units,
// as disk vendors write them) into bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"T", 1e12}, {"G", 1e9}, {"M", 1e6}} {
		if strings.HasSuffix(t, u.suffix) {
			mult, t = u.m, strings.TrimSuffix(t, u.suffix)
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f <= 0 || mult == 1 {
		return 0, fmt.Errorf("%q is not a disk size (like 120GB or 0.9TB)", s)
	}
	return int64(f * float64(mult)), nil
}

// addHost returns the address with last octet (or host number) h in p.
func addHost(p netip.Prefix, h int) (netip.Addr, error) {
	if h <= 0 {
		return netip.Addr{}, fmt.Errorf("host number %d must be positive", h)
	}
	b := p.Addr().AsSlice()
	carry := h
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := int(b[i]) + carry
		b[i] = byte(sum)
		carry = sum >> 8
	}
	a, _ := netip.AddrFromSlice(b)
	if carry > 0 || !p.Contains(a) {
		return netip.Addr{}, fmt.Errorf("host number %d is outside %s", h, p)
	}
	return a, nil
}

// isBroadcast reports whether a is the last address of an IPv4 prefix.
func isBroadcast(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || p.Bits() >= 31 {
		return false
	}
	b := a.As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	mask := uint32(1)<<hostBits - 1
	return v&mask == mask
}

// validHostname reports whether s is a valid single DNS label.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// redfishID derives Dell's EthernetInterface id from an OS NIC name under
// biosdevname: emN is integrated port N (NIC.Integrated.1-N-1), pSpP is
// slot S port P (NIC.Slot.S-P-1).
func redfishID(name string) string {
	if n, ok := strings.CutPrefix(name, "em"); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return "NIC.Integrated.1-" + n + "-1"
		}
	}
	if rest, ok := strings.CutPrefix(name, "p"); ok {
		slot, port, found := strings.Cut(rest, "p")
		if _, e1 := strconv.Atoi(slot); found && e1 == nil {
			if _, e2 := strconv.Atoi(port); e2 == nil {
				return "NIC.Slot." + slot + "-" + port + "-1"
			}
		}
	}
	return ""
}
