package dhcp

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

// seqConn is a PacketConn that reads the datagrams of data in turn, then
// blocks until closed; writes are discarded.
type seqConn struct {
	floodConn
	data [][]byte
	next atomic.Int64
}

func (c *seqConn) ReadFrom(b []byte) (int, net.Addr, error) {
	i := c.next.Add(1) - 1
	if i >= int64(len(c.data)) {
		c.once.Do(func() { close(c.drained) })
		<-c.closed
		return 0, nil, net.ErrClosed
	}
	return copy(b, c.data[i]), &net.UDPAddr{IP: net.IPv4zero, Port: ClientPort}, nil
}

// eventTestData is a REQUEST, a RELEASE and a DECLINE of each of n
// reserved MACs of avalanchePlan(n), in that order per MAC.
func eventTestData(t *testing.T, n int) [][]byte {
	var data [][]byte
	for i := range n {
		mac := avalancheMAC(i)
		for _, m := range []struct {
			mt   dhcpv4.MessageType
			mods []dhcpv4.Modifier
		}{
			{dhcpv4.MessageTypeRequest, []dhcpv4.Modifier{dhcpv4.WithClientIP(net.IPv4(10, 3, 2, byte(1+i)))}},
			{dhcpv4.MessageTypeRelease, []dhcpv4.Modifier{dhcpv4.WithClientIP(net.IPv4(10, 3, 2, byte(1+i)))}},
			{dhcpv4.MessageTypeDecline, []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 3, 2, byte(1+i))))}},
		} {
			req, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(m.mt)}, m.mods...)...)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, req.ToBytes())
		}
	}
	return data
}

// TestEventBatches: the events that arrive while the sink stores a batch
// (or within 10 ms of the first) reach it together in the next one (so that a store commits them in one
// transaction), in the order they happened, none dropped; a sink of one
// event at a time gets them all in order too.
func TestEventBatches(t *testing.T) {
	const macs = 100
	data := eventTestData(t, macs)
	for _, batched := range []bool{true, false} {
		t.Run(map[bool]string{true: "EventBatch", false: "Events"}[batched], func(t *testing.T) {
			conn := &seqConn{floodConn: floodConn{closed: make(chan struct{}), drained: make(chan struct{})}, data: data}
			var (
				mu    sync.Mutex
				order []provision.Event
				sizes []int
				all   = make(chan struct{})
			)
			record := func(evs ...provision.Event) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, evs...)
				sizes = append(sizes, len(evs))
				if len(order) == len(data) {
					close(all)
				}
			}
			plan := avalanchePlan(macs)
			s := &Server{
				Plan:    func() *provision.Plan { return plan },
				NoProbe: true, Queue: 4096,
				ListenPacket: func(context.Context, int) (net.PacketConn, error) { return conn, nil },
			}
			if batched {
				s.EventBatch = func(evs []provision.Event) {
					// The first batch is held, as a store's fsync
					// would hold it, until every datagram has been
					// answered: the rest queue meanwhile.
					if mu.Lock(); len(sizes) == 0 {
						mu.Unlock()
						<-conn.drained
					} else {
						mu.Unlock()
					}
					record(evs...)
				}
			} else {
				s.Events = func(e provision.Event) { record(e) }
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			select {
			case <-all:
			case <-time.After(time.Minute):
				mu.Lock()
				t.Fatalf("%d of %d events reached the sink", len(order), len(data))
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if batched && len(sizes) > 2 {
				t.Errorf("batch sizes %v: the events that queued behind the first batch did not come in one", sizes)
			}
			kinds := map[string][]string{}
			for _, e := range order {
				kinds[e.MAC] = append(kinds[e.MAC], e.Kind)
			}
			for i := range macs {
				mac := avalancheMAC(i).String()
				if d := cmp.Diff([]string{"lease", "release", "decline"}, kinds[mac]); d != "" {
					t.Errorf("events of %s (-want +got):\n%s", mac, d)
				}
			}
			if d := s.Counters.EventDrops.Load(); d != 0 {
				t.Errorf("%d events dropped", d)
			}
		})
	}
}
