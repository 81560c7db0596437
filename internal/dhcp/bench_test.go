package dhcp

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/internal/netnstest"
)

// BenchmarkHandleDiscover: DISCOVER -> OFFER in-process, bytes in, bytes
// out, as a worker does it (parse, classify, look up, build, encode into
// the worker's buffer).
func BenchmarkHandleDiscover(b *testing.B) {
	s, _ := testServer(testPlan(b))
	s.Events = nil
	data := readDir(b, "packets")["udhcpc-discover-bios.bin"]
	b.ReportAllocs()
	start := time.Now()
	out, sc := make([]byte, 0, maxPacket), newScratch()
	for b.Loop() {
		var ok bool
		if out, _, ok = s.handlePacket(out[:0], data, fromClient, false, sc); !ok {
			b.Fatal("no offer")
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "offers/s")
}

// BenchmarkServeDiscover: DISCOVER -> OFFER through real sockets between
// two namespaces: a client socket on port 68 broadcasts DISCOVERs with
// up to 64 outstanding, and counts the broadcast OFFERs that come back.
func BenchmarkServeDiscover(b *testing.B) {
	plan := testPlan(b)
	l := newLab(b, macCompute01, "")
	s := l.serve(b, plan, func(s *Server) { s.Events = nil })
	var conn net.PacketConn
	err := l.client.Do(func() error {
		var err error
		conn, err = ListenUDP(context.Background(), labClientIf, ClientPort)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req, err := dhcpv4.NewDiscovery(mustMAC(b, macCompute01), dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
	if err != nil {
		b.Fatal(err)
	}
	data := req.ToBytes()
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: ServerPort}
	window := make(chan struct{}, 64)
	stop := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		// The sender ends after b.N requests, or when the reader gives up.
		for range b.N {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			conn.WriteTo(data, bcast)
		}
	}()
	got, lost := 0, 0
	buf := make([]byte, maxPacket)
	for got+lost < b.N {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := conn.ReadFrom(buf); err != nil {
			// A lost request or reply: count what is still in flight as
			// lost, and let the sender go on.
			for n := len(window); n > 0; n-- {
				<-window
				lost++
			}
			continue
		}
		got++
		<-window
	}
	close(stop)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "offers/s")
	b.ReportMetric(100*float64(lost)/float64(b.N), "%lost")
	b.ReportMetric(float64(s.Counters.QueueDrops.Load()), "queue-drops")
}

// BenchmarkUdhcpcLease: wall time for busybox udhcpc to get a lease
// (DISCOVER, OFFER, REQUEST, ACK, and the process start), from
// provision and, in the same run, from busybox udhcpd as the peer.
func BenchmarkUdhcpcLease(b *testing.B) {
	needTool(b, "udhcpc")
	needTool(b, "busybox")
	lease := func(b *testing.B, l *lab) {
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), labWait)
			out, err := l.client.Command(ctx, "udhcpc", "-i", labClientIf, "-f", "-q", "-n", "-t", "3", "-T", "1", "-s", "/bin/true",
				"-V", "PXEClient:Arch:00000:UNDI:002001").CombinedOutput()
			cancel()
			if err != nil {
				b.Fatalf("udhcpc: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lease")
	}
	b.Run("provision", func(b *testing.B) {
		l := newLab(b, macCompute01, "")
		l.serve(b, testPlan(b), func(s *Server) { s.Events = nil })
		lease(b, l)
	})
	b.Run("udhcpd", func(b *testing.B) {
		l := newLab(b, macCompute01, "")
		dir := b.TempDir()
		conf := filepath.Join(dir, "udhcpd.conf")
		body := "start 10.3.1.40\nend 10.3.1.40\ninterface " + labServerIf + "\nlease_file " + filepath.Join(dir, "leases") +
			"\npidfile " + filepath.Join(dir, "pid") + "\noption subnet 255.255.255.0\noption router 10.3.1.10\noption dns 10.3.1.10\n" +
			"boot_file " + DefaultBIOSFile + "\nsiaddr 10.3.1.10\n"
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		// -a 0 would skip nothing: udhcpd still ARP-pings; 100 ms keeps
		// the comparison about the protocol, not the ARP timeout.
		startClient(b, l.server, "busybox", "udhcpd", "-f", "-a", "100", conf)
		waitUDP(b, l.server, ServerPort, labWait)
		lease(b, l)
	})
}

// waitUDP waits until a socket listens on port in ns, by failing to bind
// it: a bind that succeeds means nobody holds the port yet.
func waitUDP(t testing.TB, ns *netnstest.NS, port int, wait time.Duration) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for {
		err := ns.Do(func() error {
			c, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(port))
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("nothing listens on UDP port %d after %s", port, wait)
		}
	}
}
