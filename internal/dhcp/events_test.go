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

// TestEventWriters: the sink is called from several goroutines at once
// (so that a store can commit their events together), and the events of
// one MAC reach it in the order they were emitted.
func TestEventWriters(t *testing.T) {
	const macs = 100
	var data [][]byte
	for i := range macs {
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
	conn := &seqConn{floodConn: floodConn{closed: make(chan struct{}), drained: make(chan struct{})}, data: data}

	var (
		mu             sync.Mutex
		kinds          = map[string][]string{}
		inside, most   atomic.Int64
		enough         = make(chan struct{})
		enoughOnce     sync.Once
		got            atomic.Int64
		all            = make(chan struct{})
		wantConcurrent = int64(4)
	)
	plan := avalanchePlan(macs)
	s := &Server{
		Plan: func() *provision.Plan { return plan },
		Events: func(e provision.Event) {
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			if n >= wantConcurrent {
				enoughOnce.Do(func() { close(enough) })
			}
			// Hold the call as a store's fsync would, until enough
			// writers are inside at once (or a deadline passes).
			select {
			case <-enough:
			case <-time.After(5 * time.Second):
			}
			mu.Lock()
			kinds[e.MAC] = append(kinds[e.MAC], e.Kind)
			mu.Unlock()
			inside.Add(-1)
			if got.Add(1) == int64(len(data)) {
				close(all)
			}
		},
		NoProbe: true, Workers: 1, Queue: 4096,
		ListenPacket: func(context.Context, int) (net.PacketConn, error) { return conn, nil },
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case <-all:
	case <-time.After(time.Minute):
		t.Fatalf("%d of %d events reached the sink", got.Load(), len(data))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if most.Load() < wantConcurrent {
		t.Errorf("at most %d sink calls at once, want %d or more", most.Load(), wantConcurrent)
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
}
