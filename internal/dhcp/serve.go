package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/provision/provision/provision"
	"golang.org/x/sys/unix"
)

// packet is one datagram waiting for a worker. buf holds data and goes
// back to the server's buffer pool once the datagram is answered.
type packet struct {
	conn net.PacketConn
	buf  *[maxPacket]byte
	data []byte
	peer netip.AddrPort
	boot bool
}

// maxPacket is the largest datagram read. RFC 2131 2 lets a client accept
// 576 bytes; clients with option 57 send more, never past an Ethernet MTU.
const maxPacket = 1500

// recvBuffer is the socket receive buffer asked for: 4 MiB, about 10,000
// requests.
const recvBuffer = 4 << 20

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
	// A rack powering on at once sends a burst, which the default
	// receive buffer (about 200 KiB) drops before a worker is free. The
	// kernel caps the size at net.core.rmem_max; a smaller buffer still
	// works, so the error is not fatal.
	_ = conn.(*net.UDPConn).SetReadBuffer(recvBuffer)
	return conn, nil
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
// Goroutines: one reader per socket, which ends when its socket is closed
// as ctx ends; Workers workers, which end when the queue is closed after
// the readers stop; eventWriters event writers, which end after the
// workers. Serve returns once all have ended.
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
	if s.Events != nil {
		// The queue is shared out among the writers, each at least
		// 16 deep.
		s.events = make([]chan provision.Event, eventWriters)
		for i := range s.events {
			s.events[i] = make(chan provision.Event, max(16, queue/eventWriters))
		}
	}
	work := make(chan packet, queue)

	var evWG, workWG, readWG sync.WaitGroup
	for _, ch := range s.events {
		evWG.Go(func() {
			for e := range ch {
				s.Events(e)
			}
		})
	}
	for range workers {
		workWG.Go(func() {
			out, sc := make([]byte, 0, maxPacket), newScratch()
			for pk := range work {
				out = s.answer(pk, out, sc)
			}
		})
	}
	// A reader that fails stops the others too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErrs := make([]error, len(conns))
	for i, c := range conns {
		readWG.Go(func() {
			if readErrs[i] = s.read(ctx, c.conn, c.boot, work); readErrs[i] != nil {
				cancel()
			}
		})
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
	stop()
	for _, c := range conns {
		c.conn.Close()
	}
	close(work)
	workWG.Wait()
	if s.events != nil {
		for _, ch := range s.events {
			close(ch)
		}
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

// read queues every datagram of conn until conn is closed. A full queue
// drops the datagram: under a storm the clients retry, and the server's
// memory and goroutines stay bounded. The datagrams' buffers come from a
// pool: no more are in use than the queue holds, plus one per worker
// and reader.
func (s *Server) read(ctx context.Context, conn net.PacketConn, boot bool, work chan<- packet) error {
	udp, _ := conn.(*net.UDPConn)
	for {
		buf := s.getBuf()
		var (
			n    int
			peer netip.AddrPort
			err  error
		)
		if udp != nil {
			// ReadFromUDPAddrPort does not allocate an address per
			// datagram, as ReadFrom does.
			n, peer, err = udp.ReadFromUDPAddrPort(buf[:])
		} else {
			var from net.Addr
			n, from, err = conn.ReadFrom(buf[:])
			if ua, ok := from.(*net.UDPAddr); ok {
				peer = ua.AddrPort()
			}
		}
		if err != nil {
			s.bufs.Put(buf)
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
		select {
		case work <- packet{conn: conn, buf: buf, data: buf[:n], peer: peer, boot: boot}:
		default:
			s.bufs.Put(buf)
			s.Counters.Received.Add(1)
			s.Counters.QueueDrops.Add(1)
		}
	}
}

// getBuf takes a datagram buffer from the pool, or makes one.
func (s *Server) getBuf() *[maxPacket]byte {
	if b, ok := s.bufs.Get().(*[maxPacket]byte); ok {
		return b
	}
	return new([maxPacket]byte)
}

// answer handles one datagram and sends the reply where RFC 2131 says.
// The reply is built in sc and encoded into out, the worker's own, and
// out is returned for the next datagram.
func (s *Server) answer(pk packet, out []byte, sc *scratch) []byte {
	defer s.bufs.Put(pk.buf)
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
