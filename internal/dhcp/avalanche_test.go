package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

// avalanchePlan is a synthetic plan of n nodes on 10.3.0.0/16 with MACs
// 02:00:00:00:hi:lo, for load tests beyond the paper's 27 nodes.
func avalanchePlan(n int) *provision.Plan {
	p := &provision.Plan{Site: provision.SitePlan{Domain: "bench.example.com",
		ApplianceAddr: netip.MustParseAddr("10.3.1.10"), ApplianceURL: "http://10.3.1.10"}}
	pfx := netip.MustParsePrefix("10.3.0.0/16")
	for i := range n {
		p.Nodes = append(p.Nodes, &provision.NodePlan{
			Name: fmt.Sprintf("node%04d", i), Netboot: true, Loader: "ipxe", BootMode: "bios",
			PXE: provision.PXEPlan{NIC: "em1", MAC: avalancheMAC(i).String(),
				Address: netip.AddrFrom4([4]byte{10, 3, byte(2 + i/250), byte(1 + i%250)}), Prefix: pfx},
		})
	}
	return p
}

func avalancheMAC(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)} }

// BenchmarkAvalanche: n clients boot at once through real sockets
// between namespaces, each a full DISCOVER, OFFER, REQUEST, ACK, with a
// 1 s retransmission as a PXE ROM would; it reports the time until all
// hold a lease and the duplicate addresses (which must be 0).
func BenchmarkAvalanche(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l := newLab(b, "", "")
			l.serve(b, avalanchePlan(n), func(s *Server) { s.Events = nil })
			conn := l.clientsConn(b, n)
			defer conn.Close()
			var took time.Duration
			var dups, rounds int
			for b.Loop() {
				took, dups, rounds = avalanche(b, conn, n)
			}
			b.ReportMetric(took.Seconds(), "s-to-all-leased")
			b.ReportMetric(float64(dups), "duplicates")
			b.ReportMetric(float64(rounds), "rounds")
		})
	}
}

// avalanche runs one boot of n clients and returns how long until every
// one was acknowledged, the duplicate addresses and the send rounds.
func avalanche(b *testing.B, conn net.PacketConn, n int) (time.Duration, int, int) {
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: ServerPort}
	xid := func(i int) dhcpv4.TransactionID { return dhcpv4.TransactionID{byte(i >> 8), byte(i), 0xa7, 0x1c} }
	send := func(i int, mods ...dhcpv4.Modifier) {
		mt := dhcpv4.MessageTypeDiscover
		if len(mods) > 0 {
			mt = dhcpv4.MessageTypeRequest
		}
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(avalancheMAC(i)), dhcpv4.WithTransactionID(xid(i)),
			dhcpv4.WithBroadcast(true), dhcpv4.WithMessageType(mt), pxeBIOS, archBIOS}, mods...)...)
		if err != nil {
			b.Fatal(err)
		}
		conn.WriteTo(m.ToBytes(), bcast)
	}
	acked := make(map[int]netip.Addr, n)
	owner := map[netip.Addr]int{}
	dups, rounds := 0, 0
	start := time.Now()
	buf := make([]byte, maxPacket)
	for len(acked) < n {
		if time.Since(start) > time.Minute {
			b.Fatalf("%d of %d leased after a minute", len(acked), n)
		}
		rounds++
		for i := range n {
			if _, ok := acked[i]; !ok {
				send(i)
			}
		}
		// Answer offers and collect acks until the line is quiet for 1 s.
		for {
			conn.SetReadDeadline(time.Now().Add(time.Second))
			k, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			r, err := dhcpv4.FromBytes(buf[:k])
			if err != nil || r.TransactionID[2] != 0xa7 {
				continue
			}
			i := int(r.TransactionID[0])<<8 | int(r.TransactionID[1])
			switch r.MessageType() {
			case dhcpv4.MessageTypeOffer:
				send(i, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(r.ServerIdentifier())),
					dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(r.YourIPAddr)))
			case dhcpv4.MessageTypeAck:
				a, _ := netip.AddrFromSlice(r.YourIPAddr.To4())
				if _, ok := acked[i]; ok {
					continue
				}
				acked[i] = a
				if j, ok := owner[a]; ok && j != i {
					dups++
				}
				owner[a] = i
			}
			if len(acked) == n {
				break
			}
		}
	}
	return time.Since(start), dups, rounds
}
