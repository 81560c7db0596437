package httpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// laneCount counts the requests a server's lane answered.
type laneCount struct {
	mu      sync.Mutex
	n       int
	seen    []string      // "METHOD route status"
	changed chan struct{} // closed and replaced at each count
}

func newLaneCount() *laneCount { return &laneCount{changed: make(chan struct{})} }

func (c *laneCount) observe(route, method string, code int, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.seen = append(c.seen, method+" "+route+" "+http.StatusText(code))
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *laneCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// atLeast returns the count once it is n or more: the lane counts a
// request after its response is sent, so the client can read the
// response first.
func (c *laneCount) atLeast(t *testing.T, n int) int {
	t.Helper()
	// A guard against a count that never comes, not a timing.
	guard := time.After(time.Minute)
	for {
		c.mu.Lock()
		got, changed := c.n, c.changed
		c.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-changed:
		case <-guard:
			t.Fatalf("the lane counted %d requests, want %d", got, n)
		}
	}
}

// laneAndPlain starts a server with the lane, its answers counted, and
// one without it (every request to net/http) serving the same tree.
func laneAndPlain(t *testing.T) (withLane, plain *env, count *laneCount) {
	t.Helper()
	count = newLaneCount()
	withLane = startWith(t, nil, func(s *Server) { s.Observe = count.observe })
	plain = startWith(t, nil, func(s *Server) {
		s.Images = withLane.srv.Images
		s.noLane = true
	})
	return withLane, plain, count
}

// rawConn is a client connection that writes request heads as given.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, e *env) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A guard against a server that never answers, not a timing.
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(head string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, head); err != nil {
		r.t.Fatal(err)
	}
}

// answer reads one response to a request of method, as a string of its
// status, headers but Date, and body; "EOF" when the server closed.
func (r *rawConn) answer(method string) string {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
			strings.Contains(err.Error(), "connection reset") {
			return "EOF"
		}
		r.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	resp.Header.Del("Date")
	var b strings.Builder
	b.WriteString(resp.Status + "\n")
	if err := resp.Header.Write(&b); err != nil {
		r.t.Fatal(err)
	}
	if resp.Close {
		b.WriteString("(close)\n")
	}
	b.WriteString("\n" + string(body))
	return b.String()
}

const treeURL = "/images/centos-6.5/"

// TestLaneSameAnswers sends each request head, then a plain GET on the
// same connection, to a server with the lane and one without: the
// answers are the same, and the lane answered the plain ones alone.
func TestLaneSameAnswers(t *testing.T) {
	withLane, plain, count := laneAndPlain(t)
	get := func(p string) string { return "GET " + treeURL + p + " HTTP/1.1\r\nHost: appliance\r\n\r\n" }
	for _, tc := range []struct {
		name, head, method string
		lane               bool // answered by the lane
	}{
		{name: "plain", head: get("images/pxeboot/vmlinuz"), lane: true},
		{name: "head", method: "HEAD", head: "HEAD " + treeURL + "images/pxeboot/vmlinuz HTTP/1.1\r\nHost: a\r\n\r\n", lane: true},
		{name: "curl", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: 10.3.1.10\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", lane: true},
		{name: "anaconda", head: "GET " + treeURL + "images/install.img HTTP/1.1\r\nHost: 10.3.1.10:80\r\nX-Anaconda-Architecture: x86_64\r\nX-Anaconda-System-Release: CentOS\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n", lane: true},
		{name: "close", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", lane: true},
		{name: "http 1.0", head: "GET " + treeURL + ".treeinfo HTTP/1.0\r\n\r\n"},
		{name: "range", head: "GET " + treeURL + "images/install.img HTTP/1.1\r\nHost: a\r\nRange: bytes=5-9\r\n\r\n"},
		{name: "conditional", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\n"},
		{name: "unknown header", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\n\r\n"},
		{name: "no host", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\n\r\n"},
		{name: "two hosts", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "body", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "chunked", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "lower-case method", head: "get " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "post", head: "POST " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"},
		{name: "escaped", head: get("images%2Fpxeboot%2Fvmlinuz")},
		{name: "escaped dotdot", head: "GET /images/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "dotdot", head: "GET /images/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "query", head: get(".treeinfo?x=1")},
		{name: "directory", head: get("images")},
		{name: "missing", head: get("updates.img")},
		{name: "symlink out", head: get("escape")},
		{name: "symlink in", head: get("inside"), lane: true},
		{name: "tree root", head: "GET /images/ HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "bare LF", head: "GET " + treeURL + ".treeinfo HTTP/1.1\nHost: a\n\n"},
		{name: "folded header", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n y\r\n\r\n"},
		{name: "space before colon", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost : a\r\n\r\n"},
		{name: "control byte", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nUser-Agent: a\x01b\r\n\r\n"},
		{name: "long header", head: "GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("x", 6000) + "\r\n\r\n"},
		{name: "other route", head: "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			var answers [2][2]string
			for i, e := range []*env{withLane, plain} {
				before := count.get()
				c := dialRaw(t, e)
				c.send(tc.head)
				answers[i][0] = c.answer(method)
				if answers[i][0] != "EOF" && !strings.Contains(answers[i][0], "(close)") {
					c.send(get("images/pxeboot/initrd.img"))
					answers[i][1] = c.answer("GET")
				}
				if i == 1 {
					continue
				}
				// The first request, and the plain one after it
				// when the lane kept the connection.
				want := 0
				if tc.lane {
					want = 1
					if answers[i][1] != "" {
						want = 2
					}
				}
				if got := count.atLeast(t, before+want) - before; got != want {
					t.Errorf("the lane answered %d requests, want %d", got, want)
				}
			}
			if answers[0] != answers[1] {
				t.Errorf("with the lane:\n%.600q\n%.600q\nwithout:\n%.600q\n%.600q", answers[0][0], answers[0][1], answers[1][0], answers[1][1])
			}
			if strings.Contains(answers[0][0], "root:") || strings.Contains(answers[0][0], "outside the root") {
				t.Fatalf("content from outside the tree: %q", answers[0][0])
			}
		})
	}
}

// TestLanePipelined: requests sent at once are answered in order, the
// lane's and net/http's on one connection; once a request went to
// net/http, the connection stays there.
func TestLanePipelined(t *testing.T) {
	withLane, _, count := laneAndPlain(t)
	c := dialRaw(t, withLane)
	c.send("GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\n\r\n" +
		"HEAD " + treeURL + "images/pxeboot/vmlinuz HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET " + treeURL + "images/pxeboot/vmlinuz HTTP/1.1\r\nHost: a\r\nRange: bytes=0-5\r\n\r\n" +
		"GET " + treeURL + "images/pxeboot/initrd.img HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []struct{ method, status, body string }{
		{"GET", "200 OK", "[general]\nfamily = CentOS\n"},
		{"HEAD", "200 OK", ""},
		{"GET", "206 Partial Content", "kernel"},
		{"GET", "200 OK", "initrd-bytes"},
	} {
		got := c.answer(want.method)
		if !strings.HasPrefix(got, want.status+"\n") || !strings.HasSuffix(got, "\n\n"+want.body) {
			t.Fatalf("answer %q, want %s with body %q", got, want.status, want.body)
		}
	}
	if n := count.atLeast(t, 2); n != 2 {
		t.Errorf("the lane answered %d, want the first 2", n)
	}
	count.mu.Lock()
	seen := strings.Join(count.seen, ", ")
	count.mu.Unlock()
	if seen != "GET /images/{path...} OK, HEAD /images/{path...} OK" {
		t.Errorf("counted %s", seen)
	}
}

// TestLaneBigFile: an 8 MiB file sent by the lane arrives whole, read
// slowly by the client (sendfile waits for the socket).
func TestLaneBigFile(t *testing.T) {
	withLane, _, count := laneAndPlain(t)
	want, err := os.ReadFile(filepath.Join(withLane.images, "centos-6.5", "images", "install.img"))
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, withLane)
	for range 2 {
		c.send("GET " + treeURL + "images/install.img HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, 1000)
		for {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d bytes, not the file's %d", got.Len(), len(want))
		}
	}
	if n := count.atLeast(t, 2); n != 2 {
		t.Errorf("the lane answered %d, want 2", n)
	}
}

// TestLaneShutdown: on stop, an idle connection is closed, and a
// response under way is sent whole before its connection closes.
func TestLaneShutdown(t *testing.T) {
	withLane, _, count := laneAndPlain(t)
	idle := dialRaw(t, withLane)
	idle.send("GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := idle.answer("GET"); !strings.HasPrefix(got, "200 OK") {
		t.Fatalf("answer %q", got)
	}
	// Both connections are the lane's, not net/http's.
	defer func() {
		if n := count.atLeast(t, 2); n != 2 {
			t.Errorf("the lane answered %d, want 2", n)
		}
	}()
	busy := dialRaw(t, withLane)
	busy.send("GET " + treeURL + "images/install.img HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(busy.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The server stops while most of the file is still to send: the
	// socket's buffers hold far less than 8 MiB.
	stopped := make(chan struct{})
	go func() {
		withLane.stop()
		close(stopped)
	}()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != bigSize {
		t.Fatalf("read %d bytes of %d: %v", n, bigSize, err)
	}
	if got := busy.answer("GET"); got != "EOF" {
		t.Fatalf("after the response: %q, want the connection closed", got)
	}
	<-stopped
	idle.send("GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := idle.answer("GET"); got != "EOF" {
		t.Fatalf("idle connection: %q, want it closed", got)
	}
}

// FuzzParsePlain holds the lane's parser to net/http's: a head the lane
// answers is one http.ReadRequest reads the same way, to the same byte,
// as a GET or HEAD of that file with no body, no range and no
// condition.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{
		"GET /images/centos-6.5/.treeinfo HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /images/a/b.rpm HTTP/1.1\r\nHost: 10.3.1.10:80\r\nConnection: close\r\nUser-Agent: x\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHost: a\r\nX-Anaconda-Architecture: x86_64\r\nConnection: keep-alive\r\n\r\nGET /images/y",
		"GET /images/x HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"GET /images/x HTTP/1.1\nHost: a\n\n",
		"GET /images/../x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHost: a\r\nConnection: close, te\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHost: a\r\n Host: b\r\n\r\n",
		"GET /images/x HTTP/1.1\r\nHo",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, more := parsePlain(b)
		if n < 0 || n > len(b) || n > 0 && more {
			t.Fatalf("n %d, more %v of %d bytes", n, more, len(b))
		}
		if more && bytes.Contains(b, []byte("\r\n\r\n")) {
			t.Fatalf("more with a whole head: %q", b)
		}
		if n == 0 {
			return
		}
		br := bufio.NewReader(bytes.NewReader(b[:n]))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the lane takes %q, net/http refuses it: %v", b[:n], err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("net/http read less of %q than the lane", b[:n])
		}
		method := "GET"
		if r.head {
			method = "HEAD"
		}
		if req.Method != method || req.URL.Path != "/images/"+r.path || req.URL.RawQuery != "" ||
			req.ContentLength != 0 || len(req.TransferEncoding) > 0 || req.Close != r.close ||
			req.ProtoMinor != 1 || !wholeFile(req) {
			t.Fatalf("the lane reads %q as %+v, net/http as %s %q close %v length %d",
				b[:n], r, req.Method, req.URL, req.Close, req.ContentLength)
		}
		if req.Host == "" {
			t.Fatalf("no host in %q", b[:n])
		}
	})
}

// TestLaneIdle: a connection the lane answered is closed once it has
// been idle for IdleTimeout (here shortened), as net/http closes its own.
func TestLaneIdle(t *testing.T) {
	count := newLaneCount()
	e := startWith(t, nil, func(s *Server) {
		s.Observe = count.observe
		s.Timeouts.Idle = 200 * time.Millisecond
	})
	c := dialRaw(t, e)
	c.send("GET " + treeURL + ".treeinfo HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := c.answer("GET"); !strings.HasPrefix(got, "200 OK") {
		t.Fatalf("answer %q", got)
	}
	if n := count.atLeast(t, 1); n != 1 {
		t.Fatalf("the lane answered %d, want 1", n)
	}
	// The connection's deadline (a minute) only bounds the test.
	if b, err := io.ReadAll(c.br); err != nil || len(b) != 0 {
		t.Fatalf("idle connection: read %q, %v; want it closed by the server", b, err)
	}
}
