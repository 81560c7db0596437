package dhcp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzParsePacket holds parsePacket to dhcpv4.FromBytes: on every
// datagram both fail, or both return the same message.
func FuzzParsePacket(f *testing.F) {
	for _, dir := range []string{"packets", "malformed"} {
		for _, data := range readDir(f, dir) {
			f.Add(data)
		}
	}
	// Repeated options (RFC 3396), an empty option, padding, and a
	// packet with no options at all.
	base := readDir(f, "packets")["udhcpc-discover-bios.bin"][:headerLen]
	f.Add(append(append([]byte{}, base...), 12, 2, 'a', 'b', 0, 12, 1, 'c', 60, 0, 255))
	f.Add(append([]byte{}, base...))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := dhcpv4.FromBytes(data)
		got, err := parsePacket(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("parsePacket error %v, FromBytes error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("parsePacket differs from FromBytes (-FromBytes +parsePacket):\n%s", d)
		}
	})
}

// FuzzAppendPacket holds appendPacket to dhcpv4's ToBytes on every
// message a datagram parses to, and on the replies the handler builds.
func FuzzAppendPacket(f *testing.F) {
	for _, dir := range []string{"packets", "malformed"} {
		for _, data := range readDir(f, dir) {
			f.Add(data)
		}
	}
	plan := testPlan(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		prefix := []byte("prefix")
		if got, want := appendPacket(prefix, m), append(prefix, m.ToBytes()...); !cmp.Equal(got, want) {
			t.Fatalf("appendPacket of the request differs from ToBytes:\n got %x\nwant %x", got, want)
		}
		s, _ := testServer(plan)
		if r, _ := s.Handle(m, fromClient, false); r != nil {
			if got, want := appendPacket(nil, r), r.ToBytes(); !cmp.Equal(got, want) {
				t.Fatalf("appendPacket of the reply differs from ToBytes:\n got %x\nwant %x", got, want)
			}
		}
	})
}
