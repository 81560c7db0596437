package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/provision/provision/provision"
	"golang.org/x/sys/unix"
)

// packet is one datagram being answered: data is in the buffer of the
// goroutine that read it.
type packet struct {
	conn net.PacketConn
	data []byte
	peer netip.AddrPort
	boot bool
}

// maxPacket is the largest datagram read. RFC 2131 2 lets a client accept
// 576 bytes; clients with option 57 send more, never past an Ethernet MTU.
const maxPacket = 1500

// bytesPerQueued is the receive buffer asked for per request Queue
// holds. The kernel doubles what is asked and charges each datagram its
// buffer's true size (about 2 KiB for a DHCP request on the common
// drivers and on veth), so Queue requests fit with room to spare.
const bytesPerQueued = 2 << 10

// ListenUDP opens a UDP socket on port for a DHCP server: bound to
// 0.0.0.0 (broadcasts reach only a socket bound to the wildcard address),
// allowed to broadcast, and tied to ifname when it is set, so that
// broadcast replies leave through that interface. It sets SO_REUSEADDR
// but not SO_REUSEPORT: a second server on the same port and device fails
// to bind instead of silently sharing the requests.
func ListenUDP(ctx context.Context, ifname string, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if ifname != "" {
				serr = unix.BindToDevice(int(fd), ifname)
			}
		})
		return errors.Join(err, serr)
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on port %d of %q: %w", port, ifname, err)
	}
	return conn, nil
}

// setQueue sizes conn's receive buffer for queue requests and asks the
// kernel to report the datagrams it drops when the buffer is full
// (SO_RXQ_OVFL): under a burst the socket's queue is the server's queue.
// SO_RCVBUFFORCE passes net.core.rmem_max (about 200 KiB by default) and
// needs CAP_NET_ADMIN (the appliance runs as root); without it the kernel
// caps the size. Neither is fatal: a smaller buffer still serves
// and drops are then only missing from the counters.
func setQueue(conn net.PacketConn, queue int) {
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return
	}
	rc, err := udp.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		size := queue * bytesPerQueued
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	})
}

// Reload swaps the plan the server answers from. Requests being handled
// finish with the plan they started with; none is dropped.
func (s *Server) Reload(p *provision.Plan) error {
	if p == nil {
		return errors.New("dhcp: no plan")
	}
	if err := s.checkPool(p); err != nil {
		return fmt.Errorf("dhcp: plan: %w", err)
	}
	s.cur.Store(p)
	s.index(p)
	s.log().Info("plan reloaded", "nodes", len(p.Nodes))
	return nil
}

// currentPlan is the plan given to Reload, else the Plan function's.
func (s *Server) currentPlan() *provision.Plan {
	if p := s.cur.Load(); p != nil {
		return p
	}
	if s.Plan != nil {
		return s.Plan()
	}
	return nil
}

func (s *Server) checkPool(p *provision.Plan) error {
	if s.Pool == nil {
		return nil
	}
	m := p.ManagementNetwork()
	if m == nil {
		return errors.New("the site has no management network for the pool")
	}
	return s.Pool.check(m.Prefix.Masked(), newMACIndex(p).reserved)
}

func (s *Server) listen(ctx context.Context, port int) (net.PacketConn, error) {
	if s.ListenPacket != nil {
		return s.ListenPacket(ctx, port)
	}
	return ListenUDP(ctx, s.Interface, port)
}

// Serve answers requests until ctx ends. It first probes the segment for
// another DHCP server (unless NoProbe, or in ProxyDHCP mode where another
// server is expected) and fails, naming it, when one answers.
//
// Goroutines: Workers per socket, each of which reads a datagram and
// answers it itself, and ends when its socket is closed as ctx ends; and
// an event writer, which ends after them. Serve returns once
// all have ended. Answering in the goroutine that read saves handing each
// datagram to another goroutine: measured with perfdhcp, that hand-off
// cost 30-45 % more CPU per lease (BenchmarkPerfdhcp, server-us/lease).
func (s *Server) Serve(ctx context.Context) error {
	p := s.currentPlan()
	if p == nil {
		return errors.New("dhcp: no plan to serve")
	}
	if err := s.checkPool(p); err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	if !s.NoProbe && !s.ProxyDHCP {
		found, err := s.Probe(ctx)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return &ConflictError{Servers: found, Interface: s.Interface}
		}
	}
	conns, err := s.openConns(ctx)
	if err != nil {
		return err
	}
	workers, queue := s.Workers, s.Queue
	if workers <= 0 {
		workers = defaultWorkers
	}
	if queue <= 0 {
		queue = defaultQueue
	}
	if s.Events != nil || s.EventBatch != nil {
		s.events = make(chan provision.Event, queue)
	}
	for _, c := range conns {
		setQueue(c.conn, queue)
	}

	var evWG, readWG sync.WaitGroup
	if s.events != nil {
		evWG.Go(func() { s.writeEvents(s.events) })
	}
	// A reader that fails stops the others too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The first summary counts from before the first datagram is read.
	summarized, since := make(chan struct{}), s.Counters.Snapshot()
	go func() {
		defer close(summarized)
		s.summarize(ctx, since)
	}()
	readErrs := make([]error, len(conns)*workers)
	for i, c := range conns {
		var drops kernelDrops
		for j := range workers {
			readWG.Go(func() {
				if err := s.serveConn(ctx, c.conn, c.boot, &drops); err != nil {
					readErrs[i*workers+j] = err
					cancel()
				}
			})
		}
	}
	if s.listening != nil {
		s.listening()
	}
	s.log().Info("dhcp serving", "interface", s.Interface, "proxy", s.ProxyDHCP, "workers", workers, "queue", queue)

	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.conn.Close()
		}
	})
	readWG.Wait()
	cancel()
	<-summarized
	stop()
	for _, c := range conns {
		c.conn.Close()
	}
	if s.events != nil {
		close(s.events)
		evWG.Wait()
		// Handle called after Serve hands events to the sink directly.
		s.events = nil
	}
	return errors.Join(readErrs...)
}

type servedConn struct {
	conn net.PacketConn
	boot bool
}

// openConns opens port 67, and 4011 in ProxyDHCP mode.
func (s *Server) openConns(ctx context.Context) ([]servedConn, error) {
	c, err := s.listen(ctx, ServerPort)
	if err != nil {
		return nil, err
	}
	conns := []servedConn{{conn: c}}
	if s.ProxyDHCP {
		b, err := s.listen(ctx, PXEServerPort)
		if err != nil {
			c.Close()
			return nil, err
		}
		conns = append(conns, servedConn{conn: b, boot: true})
	}
	return conns, nil
}

// serveConn reads the datagrams of conn and answers each, until conn is
// closed. It holds one datagram at a time: under a storm the socket's
// receive buffer (setQueue) is the queue, the kernel drops what does not
// fit, and the clients retry; the server's memory and goroutines stay
// bounded.
func (s *Server) serveConn(ctx context.Context, conn net.PacketConn, boot bool, drops *kernelDrops) error {
	udp, _ := conn.(*net.UDPConn)
	buf := make([]byte, maxPacket)
	oob := make([]byte, unix.CmsgSpace(4))
	out, sc := make([]byte, 0, maxPacket), newScratch()
	for {
		var (
			n    int
			peer netip.AddrPort
			err  error
		)
		if udp != nil {
			// ReadMsgUDPAddrPort does not allocate an address per
			// datagram, as ReadFrom does.
			var oobn int
			n, oobn, _, peer, err = udp.ReadMsgUDPAddrPort(buf, oob)
			if err == nil {
				s.Counters.QueueDrops.Add(drops.update(oob[:oobn]))
			}
		} else {
			var from net.Addr
			n, from, err = conn.ReadFrom(buf)
			if ua, ok := from.(*net.UDPAddr); ok {
				peer = ua.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		out = s.answer(packet{conn: conn, data: buf[:n], peer: peer, boot: boot}, out, sc)
	}
}

// kernelDrops follows a socket's count of datagrams the kernel dropped
// because its receive buffer was full, which SO_RXQ_OVFL attaches to the
// datagrams read after a drop.
type kernelDrops struct{ seen atomic.Uint32 }

// update reads the count from a datagram's control messages and returns
// how many drops are new since the last count seen on the socket (by any
// of its goroutines).
func (k *kernelDrops) update(oob []byte) uint64 {
	hdr := unix.CmsgLen(0)
	if len(oob) < hdr+4 {
		return 0
	}
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if cm.Level != unix.SOL_SOCKET || cm.Type != unix.SO_RXQ_OVFL {
		return 0
	}
	count := binary.NativeEndian.Uint32(oob[hdr:])
	for {
		old := k.seen.Load()
		// The count wraps at 2^32: a difference in uint32 is right
		// across the wrap; a stale count (another goroutine has
		// seen a later one) is a difference above 2^31.
		d := count - old
		if d == 0 || d > 1<<31 {
			return 0
		}
		if k.seen.CompareAndSwap(old, count) {
			return uint64(d)
		}
	}
}

// writeEvents hands the events of ch to the sink until ch is closed: to
// EventBatch what arrives within eventBatchWait of a batch's first event
// (up to maxEventBatch), or to Events one by one. Each batch a store
// commits costs it a transaction and its fsyncs; a lease event waits a
// few milliseconds more to be stored, and the reply never waits.
func (s *Server) writeEvents(ch <-chan provision.Event) {
	batch := make([]provision.Event, 0, maxEventBatch)
	wait := time.NewTimer(eventBatchWait)
	defer wait.Stop()
	for e := range ch {
		if s.EventBatch == nil {
			s.Events(e)
			continue
		}
		batch = append(batch[:0], e)
		wait.Reset(eventBatchWait)
	more:
		for len(batch) < maxEventBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					break more
				}
				batch = append(batch, e)
			case <-wait.C:
				break more
			}
		}
		s.EventBatch(batch)
	}
}

// summarize logs what the server did every SummaryEvery, and once more
// when ctx ends, each time there was anything to say since the counters
// were last.
func (s *Server) summarize(ctx context.Context, last map[string]uint64) {
	every := s.SummaryEvery
	if every == 0 {
		every = defaultSummary
	}
	say := func() {
		now := s.Counters.Snapshot()
		names := make([]string, 0, len(now))
		for name, v := range now {
			if v != last[name] {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return
		}
		sort.Strings(names)
		args := make([]any, 0, 2*len(names))
		for _, name := range names {
			args = append(args, name, now[name]-last[name])
		}
		last = now
		s.log().Info("dhcp summary", args...)
	}
	if every < 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			say()
			return
		case <-tick.C:
			say()
		}
	}
}

// answer handles one datagram and sends the reply where RFC 2131 says.
// The reply is built in sc and encoded into out, the calling goroutine's
// own, and out is returned for the next datagram.
func (s *Server) answer(pk packet, out []byte, sc *scratch) []byte {
	out, dest, ok := s.handlePacket(out[:0], pk.data, pk.peer, pk.boot, sc)
	if !ok {
		return out
	}
	var err error
	if udp, isUDP := pk.conn.(*net.UDPConn); isUDP {
		_, err = udp.WriteToUDPAddrPort(out, dest)
	} else {
		_, err = pk.conn.WriteTo(out, net.UDPAddrFromAddrPort(dest))
	}
	if err != nil {
		s.Counters.SendErrors.Add(1)
		s.log().Warn("dhcp: send reply", "dest", dest, "err", err)
	}
	return out
}
