package httpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
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
// The lane's own parser (parsePlain) takes only a strict subset of
// HTTP/1.1, so that net/http and it cannot read one head two ways
// (FuzzParsePlain holds it to net/http's http.ReadRequest).

// laneRoute is the metrics route of the lane's responses: the images
// pattern's path, as the metrics middleware names it.
const laneRoute = "/images/{path...}"

// laneHeadMax is the longest request head the lane reads; a longer one
// is net/http's (MaxHeaderBytes).
const laneHeadMax = 4096

// plainRequest is a request head the lane answers itself.
type plainRequest struct {
	head  bool   // HEAD, not GET
	path  string // the file, below /images/
	close bool   // Connection: close
}

// parsePlain reads the request head at the start of b. With n > 0, b
// starts with a whole head of n bytes that the lane answers, r. With
// n == 0, more says that the head is not whole yet and could still be
// one the lane answers; otherwise it is net/http's.
func parsePlain(b []byte) (r plainRequest, n int, more bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= laneHeadMax || bareLF(b) {
			return r, 0, false
		}
		for _, m := range []string{"GET /images/", "HEAD /images/"} {
			if k := min(len(b), len(m)); string(b[:k]) == m[:k] {
				return r, 0, true
			}
		}
		return r, 0, false
	}
	n = end + 4
	if n > laneHeadMax || bareLF(b[:n]) {
		return r, 0, false
	}
	lines := b[:end+2]
	line, lines, _ := bytes.Cut(lines, []byte("\r\n"))
	if !r.requestLine(line) {
		return plainRequest{}, 0, false
	}
	hosts, conns := 0, 0
	for len(lines) > 0 {
		line, lines, _ = bytes.Cut(lines, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || !allBytes(name, tokenByte) {
			return plainRequest{}, 0, false
		}
		value = bytes.Trim(value, " \t")
		if !allBytes(value, valueByte) {
			return plainRequest{}, 0, false
		}
		switch {
		case equalFold(name, "Host"):
			hosts++
			if len(value) == 0 || !allBytes(value, hostByte) {
				return plainRequest{}, 0, false
			}
		case equalFold(name, "Connection"):
			conns++
			switch {
			case equalFold(value, "close"):
				r.close = true
			case equalFold(value, "keep-alive"):
			default:
				return plainRequest{}, 0, false
			}
		case plainHeader(name):
		default:
			return plainRequest{}, 0, false
		}
	}
	if hosts != 1 || conns > 1 {
		return plainRequest{}, 0, false
	}
	return r, n, false
}

// requestLine parses "GET /images/PATH HTTP/1.1" or HEAD, PATH a
// valid fs path of plain characters (no %, ?, #, \).
func (r *plainRequest) requestLine(line []byte) bool {
	method, rest, _ := bytes.Cut(line, []byte(" "))
	switch string(method) {
	case "GET":
	case "HEAD":
		r.head = true
	default:
		return false
	}
	target, proto, ok := bytes.Cut(rest, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" {
		return false
	}
	p, ok := bytes.CutPrefix(target, []byte("/images/"))
	if !ok || !allBytes(p, pathByte) || !fs.ValidPath(string(p)) {
		return false
	}
	r.path = string(p)
	return true
}

// plainHeader says whether a request header changes nothing in the
// answer to a plain GET: what installers, iPXE, curl and wrk send (an
// anaconda sends X-Anaconda-* headers).
func plainHeader(name []byte) bool {
	for _, h := range []string{"User-Agent", "Accept", "Accept-Encoding", "Accept-Language",
		"Cache-Control", "Pragma", "Keep-Alive"} {
		if equalFold(name, h) {
			return true
		}
	}
	return len(name) > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-'
}

// bareLF says whether b has a line feed with no carriage return before
// it: net/http takes such a head, the lane does not.
func bareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func allBytes(b []byte, ok func(byte) bool) bool {
	for _, c := range b {
		if !ok(c) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// tokenByte is a byte of a header name (RFC 9110 tchar).
func tokenByte(c byte) bool {
	return alnum(c) || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// valueByte is a byte of a header value: visible ASCII, space and tab.
func valueByte(c byte) bool { return c == '\t' || ' ' <= c && c < 0x7f }

func hostByte(c byte) bool {
	return alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'
}

// pathByte is a byte of a path the lane serves: no escapes, query,
// fragment or backslash, which net/http decodes or refuses.
func pathByte(c byte) bool { return alnum(c) || bytes.IndexByte([]byte("-._~/+,=@"), c) >= 0 }

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
	if s.Observe != nil {
		method := http.MethodGet
		if r.head {
			method = http.MethodHead
		}
		s.Observe(laneRoute, method, http.StatusOK, time.Since(start))
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
