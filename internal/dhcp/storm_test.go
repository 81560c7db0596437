package dhcp

import (
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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

// TestStormIsBounded: a storm of DISCOVERs as fast as the server reads
// them: every datagram is answered by the goroutines that read the
// socket, and they stay a fixed number (a real socket's receive buffer
// is the queue: TestKernelDropsCounted).
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
		t.Errorf("%d goroutines during the storm, want at most Serve and %d readers", g, s.Workers)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := s.Counters.Snapshot()
	t.Logf("storm of %d: %d offers", n, c["offers"])
	if c["received"] != n || c["offers"] != n || c["offers"] != uint64(conn.sent.Load()) {
		t.Errorf("counters %v, %d sent; want every datagram answered", c, conn.sent.Load())
	}
}

// TestKernelDropsCounted: a loopback socket sized by setQueue for one
// request gets a burst it cannot hold while no one reads; the kernel
// drops the rest, and the SO_RXQ_OVFL counts read with the datagrams
// that were kept add up to what was sent.
func TestKernelDropsCounted(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	setQueue(conn, 1)
	out, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const sent = 200
	data := readDir(t, "packets")["udhcpc-discover-bios.bin"]
	for range sent {
		if _, err := out.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	var k kernelDrops
	var got, drops uint64
	buf, oob := make([]byte, maxPacket), make([]byte, 64)
	// Loopback delivers within the send call: what the buffer kept is
	// there to read now.
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		_, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			break
		}
		got++
		drops += k.update(oob[:oobn])
	}
	t.Logf("%d sent, %d kept, %d counted as dropped", sent, got, drops)
	if got == 0 || got == sent {
		t.Fatalf("%d of %d datagrams kept: the receive buffer was not sized for one request", got, sent)
	}
	// Drops after the last datagram read are reported with the next
	// one: send it.
	if _, err := out.Write(data); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob); err == nil {
		got++
		drops += k.update(oob[:oobn])
	}
	if got+drops != sent+1 {
		t.Errorf("%d kept + %d counted as dropped, want %d sent", got, drops, sent+1)
	}
	if d := k.update(oob[:0]); d != 0 {
		t.Errorf("no control message counted %d drops", d)
	}
}

// TestKernelDropsUpdate: the counts of one socket, as its goroutines
// read them, some late; the count wraps at 2^32.
func TestKernelDropsUpdate(t *testing.T) {
	msg := func(level, typ int32, count uint32) []byte {
		b := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], count)
		return b
	}
	var k kernelDrops
	for _, step := range []struct {
		oob  []byte
		want uint64
	}{
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 5), 5},
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 5), 0},
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 3), 0}, // read late by another goroutine
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 9), 4},
		{msg(unix.SOL_IP, unix.SO_RXQ_OVFL, 20), 0}, // another control message
		{nil, 0},
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1<<31), 1<<31 - 9},
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1<<32-1), 1<<31 - 1},
		{msg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 2), 3}, // wrapped
	} {
		if got := k.update(step.oob); got != step.want {
			t.Errorf("update(%v) = %d, want %d", step.oob, got, step.want)
		}
	}
}
