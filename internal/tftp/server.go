package tftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/provision/provision/provision"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Server is a read-only TFTP server. Set the exported fields, then call
// Serve.
type Server struct {
	// Addr is the UDP address to listen on, e.g. "10.3.1.10:69". Ignored
	// when Conn is set.
	Addr string
	// Conn, when set, is the socket to serve on: a *net.UDPConn, from
	// which the lane and the library read the local address and the
	// interface of each request (any other PacketConn is served by
	// pin/tftp alone, at 512-byte blocks). Serve closes it on return.
	Conn net.PacketConn
	// Routes answer the requests: the first that matches a path owns it.
	Routes []Route
	// Lookup names the node at a client address, "" when unknown; nil
	// means nodes are never named.
	Lookup func(netip.Addr) string
	// Events receives one event per request: transfer (done),
	// transfer-failed, probe (a size query), not-found or refused. It is called from the
	// transfer's goroutine and must not block for long.
	Events provision.EventSink
	Log    *slog.Logger
	// Timeout is how long a DATA block waits for its ACK before it is
	// sent again (default 2s), Retries how many times (default 5).
	Timeout time.Duration
	Retries int
	// MaxBlockSize caps the blksize a client may negotiate (RFC 2348);
	// 0 leaves only the library's cap, the interface MTU less 28 bytes.
	MaxBlockSize int
	// Now is the clock; default time.Now.
	Now func() time.Time

	noLane     bool         // every request to pin/tftp (tests, benchmarks)
	laneActive atomic.Int64 // lane transfers running
	laneServed atomic.Int64 // read requests the lane took, for tests
}

// Event kinds.
const (
	KindTransfer       = "transfer"
	KindTransferFailed = "transfer-failed"
	KindNotFound       = "not-found"
	KindRefused        = "refused"
	// KindProbe is a client that asked for the size (tsize) and ended
	// the transfer on the answer, as UEFI firmware does before it
	// fetches a file: not a failure.
	KindProbe = "probe"
	// KindLocalBoot is UEFI firmware of a node whose netboot is off
	// asking for the file that tells it to boot its disk (LocalBoot).
	KindLocalBoot = "local-boot"
)

// Serve answers read requests until ctx ends. Then it stops listening,
// aborts the transfers under way (each stops at its next block with an
// error to its client) and returns nil once they have ended. Every
// goroutine it or the library starts has ended when it returns.
func (s *Server) Serve(ctx context.Context) error {
	conn := s.Conn
	if conn == nil {
		c, err := Listen(ctx, s.Addr)
		if err != nil {
			return err
		}
		conn = c
	}
	defer conn.Close()
	if uc, ok := conn.(*net.UDPConn); ok {
		if err := pktinfo(uc); err != nil {
			return err
		}
	}
	srv := tftp.NewServer(
		func(name string, rf io.ReaderFrom) error { return s.read(ctx, name, rf) },
		func(name string, wt io.WriterTo) error { return s.write(name, wt) },
	)
	srv.SetTimeout(s.timeout())
	srv.SetRetries(s.Retries)
	if s.MaxBlockSize > 0 {
		srv.SetBlockSize(s.MaxBlockSize)
	}
	srv.SetHook(hook{log: s.log()})
	s.log().Info("tftp serving", "addr", conn.LocalAddr().String(), "routes", len(s.Routes))
	uc, lane := conn.(*net.UDPConn)
	lane = lane && !s.noLane
	pconn := conn
	var h *handoff
	if lane {
		// pin/tftp reads only the address family from it, and cannot
		// parse one with a zone (a link-local address).
		la := *uc.LocalAddr().(*net.UDPAddr)
		la.Zone = ""
		h = newHandoff(&la)
		pconn = h
	}
	done := make(chan error, 1)
	// This goroutine ends when Shutdown closes pconn, below.
	go func() { done <- srv.Serve(pconn) }()
	var lanes sync.WaitGroup
	laneDone := make(chan struct{})
	if lane {
		go func() {
			defer close(laneDone)
			s.serveLane(ctx, uc, h, &lanes)
		}()
	} else {
		close(laneDone)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-done:
		// pin/tftp's Serve fails only before it reads its first packet.
		done <- err
	}
	// The lane stops reading when conn is closed; its transfers stop at
	// their next block, or at once when they wait for an ACK.
	conn.Close()
	<-laneDone
	srv.Shutdown()
	<-done
	lanes.Wait()
	if err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	return nil
}

// Listen opens a UDP socket for Server.Conn with the local address and
// interface of each packet reported from the start (IP_PKTINFO). Serve
// turns that on only once it runs; a request queued before then comes
// without it, and its blksize is then capped at 512.
func Listen(ctx context.Context, addr string) (*net.UDPConn, error) {
	var lc net.ListenConfig
	c, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("tftp: listening on %s: not a UDP socket", addr)
	}
	if err := pktinfo(uc); err != nil {
		uc.Close()
		return nil, err
	}
	return uc, nil
}

func pktinfo(c *net.UDPConn) error {
	var err error
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		err = ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	} else {
		err = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	}
	if err != nil {
		return fmt.Errorf("tftp: packet info on %s: %w", c.LocalAddr(), err)
	}
	return nil
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// clientError is what the client is told: the reason, never a local path.
type clientError string

func (e clientError) Error() string { return string(e) }

// read answers one read request that pin/tftp took (the lane's are
// answered by Server.lane); pin/tftp runs it on its own goroutine and
// sends the error it returns to the client.
func (s *Server) read(ctx context.Context, name string, rf io.ReaderFrom) error {
	var remote netip.AddrPort
	ot, ok := rf.(tftp.OutgoingTransfer)
	if ok {
		ua := ot.RemoteAddr()
		remote = ua.AddrPort()
	}
	ev, rc, size, err := s.open(ctx, name, remote)
	if err != nil {
		return err
	}
	defer rc.Close()
	if ok {
		// RFC 2349: tsize is answered only when the client asked for it,
		// which the library checks.
		ot.SetSize(size)
	}
	n, err := rf.ReadFrom(&ctxReader{ctx: ctx, r: bufio.NewReaderSize(rc, 64<<10)})
	s.finish(ev, n, size, err)
	return nil
}

// open resolves a read request for name from remote: the event that
// will report it and the file with its size, or the error to send the
// client, reported already.
func (s *Server) open(ctx context.Context, name string, remote netip.AddrPort) (provision.Event, io.ReadCloser, int64, error) {
	start := s.now()
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	req := Request{Remote: remote}
	if s.Lookup != nil {
		req.Node = s.Lookup(remote.Addr())
	}
	ev := provision.Event{Time: start, Node: req.Node, Source: "tftp", IP: remote.Addr().String(),
		Attrs: map[string]string{"file": printable(name)}}
	path, err := CleanPath(name)
	if err != nil {
		s.emit(ev, KindRefused, err)
		return ev, nil, 0, clientError(err.Error())
	}
	req.Path = path
	var route Route
	for _, r := range s.Routes {
		if r.Match(path) {
			route = r
			break
		}
	}
	if route == nil {
		s.emit(ev, KindNotFound, nil)
		return ev, nil, 0, clientError("file not found: " + path)
	}
	ev.Attrs["route"] = route.Name()
	rc, size, err := route.Open(ctx, req)
	if errors.Is(err, ErrLocalBoot) {
		s.emit(ev, KindLocalBoot, nil)
		return ev, nil, 0, clientError(ErrLocalBoot.Error())
	}
	if errors.Is(err, fs.ErrNotExist) {
		s.emit(ev, KindNotFound, err)
		return ev, nil, 0, clientError("file not found: " + path)
	}
	if err != nil {
		s.emit(ev, KindRefused, err)
		return ev, nil, 0, clientError("cannot read " + path)
	}
	return ev, rc, size, nil
}

// finish reports a transfer of a file of size that ended after n bytes
// with err. The sender has told the client already.
func (s *Server) finish(ev provision.Event, n, size int64, err error) {
	ev.Attrs["bytes"] = strconv.FormatInt(n, 10)
	ev.Attrs["duration"] = s.now().Sub(ev.Time).String()
	if err != nil {
		// An ERROR packet from the client is reported as "sending block
		// N: code=..." (pin/tftp's words, which the lane uses too); one
		// answering the OACK (block 0) ends a size probe (RFC 2347: the
		// client may refuse the options with error code 8).
		kind := KindTransferFailed
		if n == 0 && strings.HasPrefix(err.Error(), "sending block 0: code=") {
			kind, err = KindProbe, nil
			ev.Attrs["size"] = strconv.FormatInt(size, 10)
		}
		s.emit(ev, kind, err)
		return
	}
	s.emit(ev, KindTransfer, nil)
}

// write refuses a write request: the server is read-only.
func (s *Server) write(name string, wt io.WriterTo) error {
	ev := provision.Event{Time: s.now(), Source: "tftp", Attrs: map[string]string{"file": printable(name)}}
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		ua := it.RemoteAddr()
		ev.IP = ua.AddrPort().Addr().Unmap().String()
		if s.Lookup != nil {
			ev.Node = s.Lookup(ua.AddrPort().Addr().Unmap())
		}
	}
	err := clientError("write refused: read-only server")
	s.emit(ev, KindRefused, err)
	return err
}

func (s *Server) emit(ev provision.Event, kind string, err error) {
	ev.Kind = kind
	if err != nil {
		ev.Attrs["error"] = err.Error()
	}
	args := []any{"node", ev.Node, "ip", ev.IP, "file", ev.Attrs["file"]}
	switch kind {
	case KindTransfer:
		s.log().Info("tftp transfer", append(args, "route", ev.Attrs["route"], "bytes", ev.Attrs["bytes"], "duration", ev.Attrs["duration"])...)
	case KindNotFound, KindProbe:
		s.log().Debug("tftp file not found", args...)
	case KindLocalBoot:
		s.log().Debug("tftp local boot: netboot off", args...)
	default:
		s.log().Warn("tftp "+kind, append(args, "error", ev.Attrs["error"])...)
	}
	if s.Events != nil {
		s.Events(ev)
	}
}

// printable quotes a name from the network for logs and events, cut
// short: it may be 500 bytes of anything.
func printable(name string) string {
	if len(name) > 80 {
		name = name[:80] + "..."
	}
	q := strconv.Quote(name)
	return q[1 : len(q)-1]
}

// ctxReader ends a transfer at its next block once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, fmt.Errorf("server shutting down: %w", err)
	}
	return r.r.Read(p)
}

// hook logs what the library fails at before a handler runs: a request
// it cannot parse (a name too long for its 516-byte buffer has no
// terminating NUL, so it is dropped without an answer).
type hook struct{ log *slog.Logger }

func (h hook) OnSuccess(tftp.TransferStats) {}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	// The lane's handoff, closed at shutdown, is not a dropped request
	// (the library reports it in its own words, unwrapped).
	if st.Filename == "" && !strings.Contains(err.Error(), net.ErrClosed.Error()) {
		h.log.Debug("tftp request dropped", "ip", st.RemoteAddr.String(), "error", err.Error())
	}
}
