package dhcp

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodConn is a PacketConn that reads the same datagram n times as fast
// as the reader asks, then blocks until closed; writes are counted.
type floodConn struct {
	data    []byte
	left    atomic.Int64
	sent    atomic.Int64
	closed  chan struct{}
	once    sync.Once
	drained chan struct{}
}

func newFloodConn(data []byte, n int) *floodConn {
	c := &floodConn{data: data, closed: make(chan struct{}), drained: make(chan struct{})}
	c.left.Store(int64(n))
	return c
}

func (c *floodConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.left.Add(-1) < 0 {
		c.once.Do(func() { close(c.drained) })
		<-c.closed
		return 0, nil, net.ErrClosed
	}
	return copy(b, c.data), &net.UDPAddr{IP: net.IPv4zero, Port: ClientPort}, nil
}

func (c *floodConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.sent.Add(1)
	return len(b), nil
}

func (c *floodConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

func (c *floodConn) LocalAddr() net.Addr              { return &net.UDPAddr{Port: ServerPort} }
func (c *floodConn) SetDeadline(time.Time) error      { return nil }
func (c *floodConn) SetReadDeadline(time.Time) error  { return nil }
func (c *floodConn) SetWriteDeadline(time.Time) error { return nil }

// TestStormIsBounded: a storm of DISCOVERs faster than the workers runs
// into the bounded queue; every datagram is either answered or dropped
// and counted, and the goroutines stay a fixed number.
func TestStormIsBounded(t *testing.T) {
	const n = 20000
	data := readDir(t, "packets")["udhcpc-discover-bios.bin"]
	conn := newFloodConn(data, n)
	s, _ := testServer(testPlan(t))
	s.Events = nil
	s.NoProbe, s.Workers, s.Queue = true, 2, 8
	s.ListenPacket = func(_ context.Context, _ int) (net.PacketConn, error) { return conn, nil }
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case <-conn.drained:
	case <-time.After(time.Minute):
		t.Fatal("the storm was not read within a minute")
	}
	if g := runtime.NumGoroutine() - before; g > 2+s.Workers+1 {
		t.Errorf("%d goroutines during the storm, want at most Serve, a reader and %d workers", g, s.Workers)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := s.Counters.Snapshot()
	t.Logf("storm of %d: %d offers, %d dropped by the full queue", n, c["offers"], c["queue_drops"])
	if c["received"] != n || c["offers"]+c["queue_drops"] != n || c["offers"] != uint64(conn.sent.Load()) {
		t.Errorf("counters %v, %d sent; want every datagram answered or counted as dropped", c, conn.sent.Load())
	}
}
