package tftp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The lane: this package's own sender for read requests, in front of
// pin/tftp, as internal/httpd's lane is in front of net/http. Serve
// reads the listening socket itself. A read request in any mode but
// netascii goes to the lane; everything else (a write request, netascii,
// a packet that is no request) is handed to pin/tftp, which answers it
// as it answers every request when the lane is off.
//
// The lane answers a request as pin/tftp does: the same options
// negotiated (blksize from 512 to 65464, capped at MaxBlockSize and the
// interface MTU, tsize when asked and the file is not empty, the rest
// ignored), the same DATA blocks, the same ERROR code and message for a
// refused request, from a socket of its own bound to the address the
// request came to (TestLaneSameAnswers holds the two to that). What it
// does differently is how it waits for an ACK. pin/tftp sets a read
// deadline for every block and parks in Go's poller until the ACK
// arrives; each block then costs a timer, an epoll wakeup and a
// scheduler round on top of the two system calls, and lock-step TFTP
// pays that once per block. The lane's socket is connected to the
// client, and while few transfers run (spinners: a quarter of Go's Ps,
// one with two) it polls the socket for up to spinFor after each block,
// yielding the CPU between polls, before it parks with a deadline. On
// loopback an ACK comes back within that time, and a transfer to curl
// runs 2-3 times as fast as in.tftpd's (docs/BENCHMARKS.md, TFTP). With
// more transfers than that it only parks, and with one CPU it yields
// once before it parks; a client too slow for a poll to find its ACK is
// waited for parked for the next calmFor blocks, so that a slow client
// costs little CPU. A polling transfer holds its P, which the HTTP
// server, DHCP and the rest of the appliance need too: hence a quarter.
//
// Unlike pin/tftp, the lane resends a block at once when its ACK times
// out (pin/tftp sleeps up to a second first), does not answer a
// client's ERROR with one of its own (RFC 1350: an ERROR is not
// acknowledged), and ends a transfer as soon as the kernel reports the
// client's port closed (ICMP port unreachable, on a connected socket)
// instead of after its retries.

const (
	// maxRequest is the size of the buffer a request is read into:
	// pin/tftp's, so that a request too long for it is cut short alike
	// (and then dropped for want of its final NUL).
	maxRequest = 516
	// spinFor is how long a transfer polls for an ACK before it parks;
	// after a poll that found nothing, the next calmFor reads park at
	// once.
	spinFor = 200 * time.Microsecond
	calmFor = 16
	// errCodeNotDefined is the code pin/tftp sends every error with.
	errCodeNotDefined = 1
)

// packet is a datagram from a client.
type packet struct {
	b    []byte
	from *net.UDPAddr
}

// handoff is the net.PacketConn pin/tftp serves on when the lane is on:
// it reads the packets the lane hands it. pin/tftp then has no packet
// info (the library asks for it only on a *net.UDPConn), so it answers
// from a socket bound to the wildcard address and keeps to 512-byte
// blocks: only netascii transfers, which no boot firmware asks for, are
// slower for that.
type handoff struct {
	local net.Addr
	in    chan packet
	done  chan struct{}
	once  sync.Once
}

func newHandoff(local net.Addr) *handoff {
	return &handoff{local: local, in: make(chan packet, 64), done: make(chan struct{})}
}

// give hands p to pin/tftp; it is dropped, as a full socket buffer
// would drop it, when the library is that far behind.
func (h *handoff) give(p packet) bool {
	select {
	case h.in <- p:
		return true
	default:
		return false
	}
}

func (h *handoff) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-h.in:
		return copy(b, p.b), p.from, nil
	case <-h.done:
		return 0, nil, net.ErrClosed
	}
}

// WriteTo is not used: pin/tftp answers from a socket per transfer.
func (h *handoff) WriteTo([]byte, net.Addr) (int, error) {
	return 0, errors.New("tftp: handoff: no writes")
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) LocalAddr() net.Addr              { return h.local }
func (h *handoff) SetDeadline(time.Time) error      { return nil }
func (h *handoff) SetReadDeadline(time.Time) error  { return nil }
func (h *handoff) SetWriteDeadline(time.Time) error { return nil }

// serveLane reads requests from c until it is closed, serving read
// requests on the lane and handing the rest to h. Each lane transfer is
// counted in wg.
func (s *Server) serveLane(ctx context.Context, c *net.UDPConn, h *handoff, wg *sync.WaitGroup) {
	la, _ := c.LocalAddr().(*net.UDPAddr)
	v6 := la != nil && la.IP.To4() == nil
	// The packet info is on (Listen, pktinfo), but each PacketConn reads
	// it only for flags set through itself.
	p4, p6 := ipv4.NewPacketConn(c), ipv6.NewPacketConn(c)
	if v6 {
		_ = p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	} else {
		_ = p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	}
	for {
		buf := make([]byte, maxRequest)
		var (
			n       int
			src     net.Addr
			dst     net.IP
			ifindex int
			err     error
		)
		if v6 {
			var cm *ipv6.ControlMessage
			n, cm, src, err = p6.ReadFrom(buf)
			if cm != nil {
				dst, ifindex = cm.Dst, cm.IfIndex
			}
		} else {
			var cm *ipv4.ControlMessage
			n, cm, src, err = p4.ReadFrom(buf)
			if cm != nil {
				dst, ifindex = cm.Dst, cm.IfIndex
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			s.log().Warn("tftp read", "error", err.Error())
			continue
		}
		from, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		req, ok := parseRRQ(buf[:n])
		if !ok {
			if !h.give(packet{b: buf[:n], from: from}) {
				s.log().Debug("tftp request dropped: library busy", "ip", from.IP.String())
			}
			continue
		}
		local, _ := netip.AddrFromSlice(dst)
		local = local.Unmap()
		switch {
		case dst.Equal(net.IPv4bcast):
			// A broadcast request is answered from the address the
			// kernel picks, as pin/tftp does.
			local = netip.Addr{}
		case local.Is6() && local.IsLinkLocalUnicast() && ifindex > 0:
			// A link-local address binds only with its interface, named
			// by index: the socket's namespace may not be the thread's.
			local = local.WithZone(strconv.Itoa(ifindex))
		}
		remote, peer := from.AddrPort(), from.AddrPort()
		if peer.Addr().IsLinkLocalUnicast() && ifindex > 0 {
			peer = netip.AddrPortFrom(peer.Addr().WithZone(strconv.Itoa(ifindex)), peer.Port())
		}
		maxBlock := s.maxBlock(ifindex, v6)
		wg.Add(1)
		s.laneActive.Add(1)
		go func() {
			defer wg.Done()
			defer s.laneActive.Add(-1)
			s.lane(ctx, req, local, remote, peer, maxBlock)
		}()
	}
}

// lane answers one read request from remote that came to local; peer
// is remote with its zone, if any, as an interface index.
func (s *Server) lane(ctx context.Context, req rrq, local netip.Addr, remote, peer netip.AddrPort, maxBlock int) {
	s.laneServed.Add(1)
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(peer))
	if err != nil {
		s.log().Debug("tftp request dropped", "ip", remote.Addr().String(), "error", err.Error())
		return
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		s.log().Debug("tftp request dropped", "ip", remote.Addr().String(), "error", err.Error())
		return
	}
	t := &transfer{c: c, rc: raw, timeout: s.timeout(), retries: s.retries(), active: &s.laneActive,
		spinMax: spinners(runtime.GOMAXPROCS(0))}
	ev, rc, size, err := s.open(ctx, req.name, remote)
	if err != nil {
		t.abort(err)
		return
	}
	defer rc.Close()
	oack, blksize := negotiate(req, maxBlock, size)
	n, err := t.run(ctx, oack, blksize, bufio.NewReaderSize(rc, 64<<10))
	s.finish(ev, n, size, err)
}

// spinners is how many transfers may run at once for them to poll, with
// procs Go Ps: a polling transfer holds its P while it polls, so at most
// a quarter of them, and one with two; none with one P, whose client
// needs the CPU to answer.
func spinners(procs int) int64 {
	if procs < 2 {
		return 0
	}
	return int64(max(1, procs/4))
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 2 * time.Second
}

// retries is pin/tftp's: Retries, or 5 when it is under 1.
func (s *Server) retries() int {
	if s.Retries < 1 {
		return 5
	}
	return s.Retries
}

// transfer is one lane transfer on a socket connected to its client.
type transfer struct {
	c       *net.UDPConn
	rc      syscall.RawConn
	timeout time.Duration
	retries int
	active  *atomic.Int64 // lane transfers running
	spinMax int64         // poll for ACKs while active is at most this
	calm    int           // reads left before polling again
	until   time.Time     // the socket's read deadline
	recv    [maxRequest]byte
	// clientEnded is set when the client ended the transfer (an ERROR,
	// or its port closed): it is told nothing more.
	clientEnded bool
}

// errClient is an ERROR packet from the client, in pin/tftp's words.
type errClient struct {
	block uint16
	code  uint16
	msg   string
}

func (e *errClient) Error() string {
	return fmt.Sprintf("sending block %d: code=%d, error: %s", e.block, e.code, e.msg)
}

// run sends the OACK, when there is one, then r in DATA blocks of
// blksize, each once the last is acknowledged. It returns the bytes
// read from r, and tells the client when it fails.
func (t *transfer) run(ctx context.Context, oack []byte, blksize int, r io.Reader) (int64, error) {
	stop := context.AfterFunc(ctx, func() {
		// Wake a transfer waiting for an ACK; wait checks ctx.
		_ = t.c.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	if oack != nil {
		if err := t.send(ctx, oack, 0); err != nil {
			return 0, t.abort(err)
		}
	}
	buf := make([]byte, 4+blksize)
	binary.BigEndian.PutUint16(buf, opDATA)
	var n int64
	for block := uint16(1); ; block++ {
		if err := ctx.Err(); err != nil {
			return n, t.abort(fmt.Errorf("server shutting down: %w", err))
		}
		l, err := io.ReadFull(r, buf[4:])
		n += int64(l)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return n, t.abort(err)
		}
		binary.BigEndian.PutUint16(buf[2:], block)
		if err := t.send(ctx, buf[:4+l], block); err != nil {
			return n, t.abort(err)
		}
		if l < blksize {
			return n, nil
		}
	}
}

// send sends p and waits for the ACK of block, sending p again when the
// wait times out, up to retries times.
func (t *transfer) send(ctx context.Context, p []byte, block uint16) error {
	for try := 0; ; try++ {
		if _, err := t.c.Write(p); err != nil {
			return t.clientGone(err)
		}
		err := t.wait(ctx, block)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && ctx.Err() == nil && try < t.retries {
			continue
		}
		return err
	}
}

// wait reads packets until the ACK of block. A duplicate ACK of the
// block before is not answered (RFC 1350's Sorcerer's Apprentice bug):
// only a timeout sends a block again.
func (t *transfer) wait(ctx context.Context, block uint16) error {
	var deadline time.Time
	for {
		n, err := t.read(ctx, &deadline)
		if err != nil {
			return err
		}
		p := t.recv[:n]
		switch {
		case n >= 4 && binary.BigEndian.Uint16(p) == opACK:
			if binary.BigEndian.Uint16(p[2:]) == block {
				return nil
			}
		case n >= 5 && binary.BigEndian.Uint16(p) == opERROR:
			t.clientEnded = true
			msg, _, _ := bytes.Cut(p[4:], []byte{0})
			return &errClient{block: block, code: binary.BigEndian.Uint16(p[2:]), msg: string(msg)}
		}
	}
}

// read reads one packet: first by polling, when few transfers run, then
// parked in Go's poller until deadline, set to the timeout from the
// first time it parks.
func (t *transfer) read(ctx context.Context, deadline *time.Time) (int, error) {
	if t.calm > 0 {
		t.calm--
	} else if active := t.active.Load(); active <= t.spinMax || active == 1 {
		tries := 1 << 30
		if t.spinMax == 0 {
			// One CPU, one transfer: the client needs this CPU to answer.
			// Yield it once, and read again, before parking.
			tries = 1
		}
		n, got, err := poll(t.rc, t.recv[:], spinFor, tries)
		if err != nil {
			return 0, t.clientGone(err)
		}
		if got {
			return n, nil
		}
		// A client this slow (a real network, busy firmware) is not
		// worth the CPU: wait for the next calmFor packets unpolled.
		t.calm = calmFor
	}
	if deadline.IsZero() {
		*deadline = time.Now().Add(t.timeout)
	}
	// Moving the socket's deadline costs a timer update, so the one set
	// for an earlier block stands when it is at most a quarter of the
	// timeout early: a lost block is then sent again after 3/4 to all
	// of the timeout.
	if t.until.After(*deadline) || t.until.Before(deadline.Add(-t.timeout/4)) {
		if err := t.c.SetReadDeadline(*deadline); err != nil {
			return 0, err
		}
		t.until = *deadline
	}
	// After the deadline is set: a shutdown that came before it is
	// seen here, one after it cuts the read short.
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("server shutting down: %w", err)
	}
	n, err := t.c.Read(t.recv[:])
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("server shutting down: %w", ctx.Err())
		}
		return 0, t.clientGone(err)
	}
	return n, nil
}

// clientGone marks err as the client's end when it says the client's
// port is closed.
func (t *transfer) clientGone(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		t.clientEnded = true
		return fmt.Errorf("client gone: %w", err)
	}
	return err
}

// abort tells the client that the transfer failed, as pin/tftp does
// (an ERROR with code 1 and err's text), unless the client ended it.
// It returns err.
func (t *transfer) abort(err error) error {
	if t.clientEnded {
		return err
	}
	msg := err.Error()
	if len(msg) > maxRequest-6 {
		msg = msg[:maxRequest-6]
	}
	p := binary.BigEndian.AppendUint16([]byte{0, opERROR}, errCodeNotDefined)
	_, _ = t.c.Write(append(append(p, msg...), 0))
	return err
}
