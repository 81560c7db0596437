package httpd

import (
	"bytes"
	"io/fs"
	"strings"
)

// The install-tree lane's request parser (lane.go): a strict subset of
// HTTP/1.1, so that a head it takes is one net/http reads the same way
// (FuzzParsePlain).

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

// equalFold compares ASCII case-insensitively, as net/http matches
// header names and tokens; bytes.EqualFold would also fold Unicode
// (U+017F to s), which net/http does not.
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
	return alnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// valueByte is a byte of a header value: visible ASCII, space and tab.
func valueByte(c byte) bool { return c == '\t' || ' ' <= c && c < 0x7f }

func hostByte(c byte) bool {
	return alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'
}

// pathByte is a byte of a path the lane serves: no escapes, query,
// fragment or backslash, which net/http decodes or refuses.
func pathByte(c byte) bool { return alnum(c) || strings.IndexByte("-._~/+,=@", c) >= 0 }
