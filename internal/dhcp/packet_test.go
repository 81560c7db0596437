package dhcp

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var fromClient = netip.MustParseAddrPort("0.0.0.0:68")

// readDir returns the files of testdata/dir by name.
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.bin"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/%s/*.bin: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// TestCapturedPackets: the DISCOVERs udhcpc and dhclient sent (captured
// from the interface of TestUdhcpcGetsReservation's lab, MAC of
// compute01) each get an OFFER of compute01's address.
func TestCapturedPackets(t *testing.T) {
	s, _ := testServer(testPlan(t))
	for name, data := range readDir(t, "packets") {
		out, dest, ok := s.HandlePacket(data, fromClient, false)
		if !ok {
			t.Errorf("%s: no reply", name)
			continue
		}
		r, err := dhcpv4.FromBytes(out)
		if err != nil {
			t.Fatalf("%s: reply does not parse: %v", name, err)
		}
		if r.MessageType() != dhcpv4.MessageTypeOffer || r.YourIPAddr.String() != "10.3.1.40" || dest.Port() != ClientPort {
			t.Errorf("%s: reply to %s: %s", name, dest, r.Summary())
		}
	}
}

// TestMalformedThenDiscover: none of the malformed corpus crashes the
// handler or gets a reply, the plainly broken ones are counted as
// malformed, and a normal DISCOVER still gets its OFFER afterwards.
func TestMalformedThenDiscover(t *testing.T) {
	s, _ := testServer(testPlan(t))
	mustCount := map[string]bool{
		"truncated.bin": true, "truncated-options.bin": true, "bad-cookie.bin": true, "option-past-end.bin": true,
		"hlen-17.bin": true, "empty.bin": true, "bootreply.bin": true,
	}
	for name, data := range readDir(t, "malformed") {
		before := s.Counters.Malformed.Load()
		out, _, ok := s.HandlePacket(data, fromClient, false)
		counted := s.Counters.Malformed.Load() > before
		t.Logf("%s: %d bytes, reply %v, counted malformed %v", name, len(data), ok, counted)
		if mustCount[name] && (ok || !counted) {
			t.Errorf("%s: reply %v (%d bytes), counted malformed %v; want dropped and counted", name, ok, len(out), counted)
		}
	}
	data := readDir(t, "packets")["udhcpc-discover-bios.bin"]
	out, _, ok := s.HandlePacket(data, fromClient, false)
	if !ok {
		t.Fatal("a normal DISCOVER got no reply after the malformed corpus")
	}
	if r, err := dhcpv4.FromBytes(out); err != nil || r.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("reply %v, %v; want an OFFER", r, err)
	}
}

// FuzzHandle: arbitrary datagrams never panic the handler, and whatever
// it answers parses as a BOOTREPLY.
func FuzzHandle(f *testing.F) {
	for _, dir := range []string{"packets", "malformed"} {
		for _, data := range readDir(f, dir) {
			f.Add(data, false)
			f.Add(data, true)
		}
	}
	plan := testPlan(f)
	pool, err := ParsePool("10.3.1.150-10.3.1.199")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, boot bool) {
		s, _ := testServer(plan)
		s.Pool = pool
		s.ProxyDHCP = boot
		out, _, ok := s.HandlePacket(data, netip.MustParseAddrPort("10.3.1.77:68"), boot)
		if !ok {
			return
		}
		r, err := dhcpv4.FromBytes(out)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if r.OpCode != dhcpv4.OpcodeBootReply {
			t.Fatalf("reply op %v", r.OpCode)
		}
	})
}
