package httpd

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The install-tree lane answers the one request an installer makes
// hundreds of times, a plain GET (or HEAD) of a whole file under
// /images/, without net/http: its per-request work (request parsing into
// maps, a context, a goroutine reading ahead, the response's header
// formatting) cost more CPU than sending a 64 KiB RPM by sendfile
// (BENCHMARKS.md, HTTP). Every connection is accepted by the lane; the
// first request on it that is anything else (another route, a Range or
// a conditional, a header the lane does not know, a malformed head, a
// file it cannot serve) is handed to net/http unread, with the
// connection, which net/http then keeps. So the lane never answers with
// an error: what it does not serve, net/http answers as it always did.
//
// The lane's own parser (parsePlain, lane_parse.go) takes only a strict
// subset of HTTP/1.1, so that net/http and it cannot read one head two
// ways (FuzzParsePlain holds it to net/http's http.ReadRequest).

// laneRoute is the metrics route of the lane's responses: the images
// pattern's path, as the metrics middleware names it.
const laneRoute = "/images/{path...}"

// lane accepts the server's connections and answers their plain
// requests; it hands the rest to net/http through its listener.
type lane struct {
	s   *Server
	ln  net.Listener // the server's
	to  Timeouts
	log *slog.Logger

	handed    chan net.Conn // to net/http
	acceptErr chan error    // the listener's last error, to net/http
	done      chan struct{} // closed by close
	closeOnce sync.Once

	mu    sync.Mutex
	conns map[*laneConn]struct{}
	wg    sync.WaitGroup // the accept loop and the connections' goroutines

	date atomic.Pointer[laneDate]
}

// laneDate is the Date header's value, made once a second.
type laneDate struct {
	sec   int64
	value []byte
}

// A lane connection is idle (waiting for a request: shutdown closes
// it), active, or closed by shutdown.
const (
	laneIdle int32 = iota
	laneActive
	laneShut
)

type laneConn struct {
	c     *net.TCPConn
	br    *bufio.Reader
	state atomic.Int32
	buf   []byte // the response head, kept for the next
}

func newLane(s *Server, ln net.Listener, to Timeouts) *lane {
	return &lane{s: s, ln: ln, to: to, log: s.logger(), handed: make(chan net.Conn),
		acceptErr: make(chan error, 1), done: make(chan struct{}), conns: map[*laneConn]struct{}{}}
}

// Accept, Close and Addr make the lane net/http's listener: it accepts
// the connections the lane hands over.
func (l *lane) Accept() (net.Conn, error) {
	select {
	case c := <-l.handed:
		return c, nil
	case err := <-l.acceptErr:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *lane) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
	})
	return err
}

func (l *lane) Addr() net.Addr { return l.ln.Addr() }

// serve accepts connections until the listener is closed.
func (l *lane) serve() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors, as net/http's Serve does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("http accept", "err", err, "retry", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
					return
				}
			}
			select {
			case l.acceptErr <- err:
			default:
			}
			return
		}
		backoff = 0
		tc, ok := c.(*net.TCPConn)
		if !ok {
			l.handOff(c)
			continue
		}
		lc := &laneConn{c: tc, br: bufio.NewReaderSize(tc, laneHeadMax)}
		l.mu.Lock()
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.serveConn(lc)
	}
}

// isTemporary is an accept error worth waiting out: no descriptors or
// buffers left, or a connection reset before it was accepted.
func isTemporary(err error) bool {
	type temporary interface{ Temporary() bool }
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

// handOff gives c to net/http, or closes it once net/http is gone.
func (l *lane) handOff(c net.Conn) {
	select {
	case l.handed <- c:
	case <-l.done:
		c.Close()
	}
}

// serveConn answers lc's plain requests until it closes or sends
// another, which it hands to net/http with the connection.
func (l *lane) serveConn(lc *laneConn) {
	defer l.wg.Done()
	handed := false
	defer func() {
		if v := recover(); v != nil {
			// As net/http does for a handler: the connection ends,
			// the server goes on.
			l.log.Error("http: panic answering an install-tree request", "panic", v, "stack", string(debug.Stack()))
		}
		l.mu.Lock()
		delete(l.conns, lc)
		l.mu.Unlock()
		if !handed {
			lc.c.Close()
		}
	}()
	wait := l.to.ReadHeader
	for {
		if !lc.state.CompareAndSwap(laneActive, laneIdle) && lc.state.Load() == laneShut {
			return
		}
		if lc.br.Buffered() == 0 {
			_ = lc.c.SetReadDeadline(time.Now().Add(wait))
			if _, err := lc.br.Peek(1); err != nil {
				return
			}
		}
		if !lc.state.CompareAndSwap(laneIdle, laneActive) {
			return // shut while idle
		}
		_ = lc.c.SetReadDeadline(time.Now().Add(l.to.ReadHeader))
		r, n, err := lc.readHead()
		if err != nil {
			return
		}
		if n == 0 {
			handed = true
			l.handOff(&handedConn{TCPConn: lc.c, r: lc.br})
			return
		}
		served, keep := l.answer(lc, r, n)
		if !served {
			handed = true
			l.handOff(&handedConn{TCPConn: lc.c, r: lc.br})
			return
		}
		if !keep {
			return
		}
		wait = l.to.Idle
	}
}

// readHead reads until the buffer holds a whole head or one that is not
// the lane's; n is 0 for that one.
func (lc *laneConn) readHead() (plainRequest, int, error) {
	for {
		b, _ := lc.br.Peek(lc.br.Buffered())
		r, n, more := parsePlain(b)
		if !more {
			return r, n, nil
		}
		// A byte more than is buffered: the reader reads what has come.
		if _, err := lc.br.Peek(len(b) + 1); err != nil {
			return r, 0, err
		}
	}
}

// answer sends the file r asks for, whose head is the reader's first n
// bytes. It returns served false, having read nothing, when the file is
// net/http's to answer (missing, not regular, not servable), and keep
// false when the connection is to close.
func (l *lane) answer(lc *laneConn, r plainRequest, n int) (served, keep bool) {
	start := time.Now()
	s := l.s
	s.filesOnce.Do(func() { s.files = newOpenFiles(s.Images) })
	f, err := s.files.get(r.path)
	if err != nil {
		return false, false
	}
	defer s.files.put(r.path, f)
	if !f.info.Mode().IsRegular() {
		return false, false
	}
	if _, err := lc.br.Discard(n); err != nil {
		return true, false
	}
	if s.Observe != nil {
		// Counted as the metrics middleware counts a handler's 200,
		// whether or not the client takes the whole response.
		method := http.MethodGet
		if r.head {
			method = http.MethodHead
		}
		defer func() { s.Observe(laneRoute, method, http.StatusOK, time.Since(start)) }()
	}
	size := f.info.Size()
	_ = lc.c.SetWriteDeadline(start.Add(l.to.Write + time.Duration(size/minRate)*time.Second))
	keep = !r.close
	select {
	case <-l.done:
		keep = false
	default:
	}
	lc.buf = l.appendHead(lc.buf[:0], f, start, keep)
	if log := l.log; log.Enabled(context.Background(), slog.LevelDebug) {
		ip := lc.c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		log.Debug("images", "path", r.path, "ip", ip.String(), "range", false, "lane", true)
	}
	if r.head {
		size = 0
	}
	if sent, err := sendHeadAndFile(lc.c, lc.buf, f.File, size); err != nil || sent != size {
		// A write error or timeout, or a file shortened since its
		// open: the response is short, and the connection must end.
		return true, false
	}
	return true, keep
}

// appendHead appends the response head of f: the headers the images
// handler sends for a whole file, as net/http writes them.
func (l *lane) appendHead(b []byte, f *openFile, now time.Time, keep bool) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Length: "...)
	b = append(b, f.length[0]...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, f.contentType[0]...)
	if f.lastModified != nil {
		b = append(b, "\r\nLast-Modified: "...)
		b = append(b, f.lastModified[0]...)
	}
	if !keep {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\nDate: "...)
	b = append(b, l.dateAt(now)...)
	return append(b, "\r\n\r\n"...)
}

// dateAt is the Date header's value for now, formatted once a second.
func (l *lane) dateAt(now time.Time) []byte {
	sec := now.Unix()
	if d := l.date.Load(); d != nil && d.sec == sec {
		return d.value
	}
	d := &laneDate{sec: sec, value: now.UTC().AppendFormat(nil, http.TimeFormat)}
	l.date.Store(d)
	return d.value
}

// shutdown closes the lane's idle connections and waits, until ctx
// ends, for those answering a request to finish; then it closes them
// all. The listener is closed already (by net/http's Shutdown).
func (l *lane) shutdown(ctx context.Context) {
	l.Close()
	stopped := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(stopped)
	}()
	for {
		l.mu.Lock()
		for lc := range l.conns {
			if lc.state.CompareAndSwap(laneIdle, laneShut) {
				lc.c.Close()
			}
		}
		l.mu.Unlock()
		select {
		case <-stopped:
			return
		case <-ctx.Done():
			l.mu.Lock()
			for lc := range l.conns {
				lc.c.Close()
			}
			l.mu.Unlock()
			<-stopped
			return
		case <-time.After(10 * time.Millisecond):
			// A connection that was answering may be idle now.
		}
	}
}

// handedConn is a connection handed to net/http: its reads start with
// what the lane had read and not used. Its other methods are the TCP
// connection's (ReadFrom keeps net/http's sendfile).
type handedConn struct {
	*net.TCPConn
	r *bufio.Reader // nil once drained
}

func (c *handedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.TCPConn.Read(p)
}
