package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/netnstest"
)

// answer is what a client saw of one request, read to its end.
type answer struct {
	From   string            // the address the first answer came from
	Opts   map[string]string // the OACK's options; nil for no OACK
	Blocks []int             // the length of each DATA block, in order
	Data   []byte
	Err    string // an ERROR packet: "code: message"
	Silent bool   // no answer at all within the wait
}

// exchange sends req to addr from a plain UDP socket and reads the
// answer to its end, acknowledging every block. quiet is how long to
// wait for a first answer that may not come.
func exchange(t *testing.T, addr string, req []byte, quiet time.Duration) answer {
	t.Helper()
	network, local := "udp4", "127.0.0.1:0"
	if strings.HasPrefix(addr, "[") {
		network, local = "udp6", "[::1]:0"
	}
	c, err := net.ListenPacket(network, local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(req, to); err != nil {
		t.Fatal(err)
	}
	var a answer
	blksize := 512
	buf := make([]byte, 70000)
	for first := true; ; first = false {
		wait := 5 * time.Second
		if first {
			wait = quiet
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		n, from, err := c.ReadFrom(buf)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && first {
			a.Silent = true
			return a
		}
		if err != nil {
			t.Fatalf("after %+v: %v", a, err)
		}
		if first {
			a.From = from.(*net.UDPAddr).IP.String()
		}
		p := buf[:n]
		switch binary.BigEndian.Uint16(p) {
		case opOACK:
			a.Opts = map[string]string{}
			f := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
			for i := 0; i+1 < len(f); i += 2 {
				a.Opts[f[i]] = f[i+1]
			}
			if v, ok := a.Opts["blksize"]; ok {
				fmt.Sscan(v, &blksize)
			}
			ack(t, c, from, 0)
		case opDATA:
			block := binary.BigEndian.Uint16(p[2:])
			if want := uint16(len(a.Blocks) + 1); block != want {
				t.Fatalf("DATA block %d, want %d", block, want)
			}
			a.Blocks = append(a.Blocks, n-4)
			a.Data = append(a.Data, p[4:]...)
			ack(t, c, from, block)
			if n-4 < blksize {
				return a
			}
		case opERROR:
			a.Err = fmt.Sprintf("%d: %s", binary.BigEndian.Uint16(p[2:]), strings.TrimSuffix(string(p[4:]), "\x00"))
			return a
		default:
			t.Fatalf("unexpected packet %q", p[:min(n, 40)])
		}
	}
}

func ack(t *testing.T, c net.PacketConn, to net.Addr, block uint16) {
	t.Helper()
	if _, err := c.WriteTo([]byte{0, opACK, byte(block >> 8), byte(block)}, to); err != nil {
		t.Fatal(err)
	}
}

// rq makes a request packet: opcode, then NUL-terminated fields.
func rq(op byte, fields ...string) []byte {
	b := []byte{0, op}
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

// TestLaneSameAnswers sends the same requests to a server with its lane
// and to one without it (pin/tftp alone) and compares what a client
// sees: options, blocks, data, errors, silence. The lane must take the
// read requests and leave the rest to pin/tftp.
func TestLaneSameAnswers(t *testing.T) {
	f := newFixture(t, 3000)
	for name, size := range map[string]int{"empty": 0, "two-blocks": 1024} {
		if err := os.WriteFile(filepath.Join(f.tree, name), bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) { sameAnswers(t, f, host) })
	}
}

func sameAnswers(t *testing.T, f *fixture, host string) {
	const kernel = "centos-6.5/images/pxeboot/vmlinuz"
	laneSrv, plainSrv := f.server(t), f.server(t)
	laneSrv.MaxBlockSize, plainSrv.MaxBlockSize = 8192, 8192
	laneSrv.Addr = net.JoinHostPort(host, "0")
	plainSrv.Addr = laneSrv.Addr
	plainSrv.noLane = true
	lane, plain := serve(t, laneSrv), serve(t, plainSrv)
	for _, tt := range []struct {
		name   string
		req    []byte
		byLane bool
	}{
		{"plain", rq(1, kernel, "octet"), true},
		{"mode in capitals", rq(1, kernel, "OCTET"), true},
		{"blksize and tsize", rq(1, kernel, "octet", "blksize", "1468", "tsize", "0"), true},
		{"tsize alone", rq(1, kernel, "octet", "tsize", "0"), true},
		{"blksize under 512", rq(1, kernel, "octet", "blksize", "8"), true},
		{"blksize over 65464", rq(1, kernel, "octet", "blksize", "70000"), true},
		{"blksize capped", rq(1, kernel, "octet", "blksize", "9000"), true},
		{"blksize with a sign", rq(1, kernel, "octet", "blksize", "+1024"), true},
		{"blksize not a number", rq(1, kernel, "octet", "blksize", "1k"), true},
		{"blksize twice", rq(1, kernel, "octet", "blksize", "1024", "blksize", "2048"), true},
		{"blksize in capitals", rq(1, kernel, "octet", "BLKSIZE", "1024"), true},
		{"unknown option", rq(1, kernel, "octet", "windowsize", "8"), true},
		{"option without a value", rq(1, kernel, "octet", "blksize"), true},
		{"no NUL after the mode", rq(1, kernel, "octet")[:len(rq(1, kernel, "octet"))-1], true},
		{"empty file with tsize", rq(1, "empty", "octet", "tsize", "0"), true},
		{"blocks end on a boundary", rq(1, "two-blocks", "octet"), true},
		{"generated file", rq(1, "pxelinux.cfg/01-52-54-00-00-00-01", "octet", "tsize", "0"), true},
		{"missing file", rq(1, "nothing-here", "octet"), true},
		{"traversal", rq(1, "../../etc/passwd", "octet"), true},
		{"symlink out", rq(1, "centos-6.5/escape", "octet"), true},
		{"local boot", rq(1, "local-boot.efi", "octet"), true},
		{"netascii", rq(1, kernel, "netascii"), false},
		{"write", rq(2, "upload", "octet"), false},
		{"no mode", []byte("\x00\x01" + kernel), false},
		{"too short", []byte{0, 1}, false},
		{"an ACK", []byte{0, 4, 0, 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := lane.srv.laneServed.Load()
			quiet := 2 * time.Second
			if !tt.byLane && !bytes.HasPrefix(tt.req, []byte{0, 2}) && tt.name != "netascii" {
				quiet = 300 * time.Millisecond // no answer expected
			}
			want := exchange(t, plain.addr, tt.req, quiet)
			got := exchange(t, lane.addr, tt.req, quiet)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("lane (+) and pin/tftp (-) answer differently:\n%s", d)
			}
			if took := lane.srv.laneServed.Load() - before; took != map[bool]int64{true: 1}[tt.byLane] {
				t.Errorf("lane took %d requests, want it to take it: %v", took, tt.byLane)
			}
			if tt.byLane && !want.Silent && want.Err == "" && want.From != host {
				t.Errorf("answer from %s", want.From)
			}
		})
	}
	if n := plain.srv.laneServed.Load(); n != 0 {
		t.Errorf("lane off, and it took %d requests", n)
	}
}

// TestLaneResends: a block whose ACK does not come is sent again after
// the timeout, Retries times, then the transfer fails with an ERROR to
// the client and a transfer-failed event.
func TestLaneResends(t *testing.T) {
	f := newFixture(t, 3000)
	srv := f.server(t)
	srv.Timeout, srv.Retries = 100*time.Millisecond, 3
	ts := serve(t, srv)
	c, to := dialTest(t, ts.addr)
	if _, err := c.WriteTo(rq(1, "centos-6.5/images/pxeboot/vmlinuz", "octet"), to); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 600)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		p := buf[:n]
		if binary.BigEndian.Uint16(p) == opERROR {
			got = append(got, "ERROR")
			break
		}
		got = append(got, fmt.Sprintf("DATA %d", binary.BigEndian.Uint16(p[2:])))
	}
	if want := []string{"DATA 1", "DATA 1", "DATA 1", "DATA 1", "ERROR"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if ev := ts.waitEvents(t, 1)[0]; ev.Kind != KindTransferFailed || !strings.Contains(ev.Attrs["error"], "timeout") {
		t.Errorf("event %+v", ev)
	}
}

// TestLaneIgnoresDuplicateACK: an ACK of the block before, sent again,
// is not answered with the block again (RFC 1350's Sorcerer's
// Apprentice bug); the transfer goes on at the right ACK.
func TestLaneIgnoresDuplicateACK(t *testing.T) {
	f := newFixture(t, 3000)
	srv := f.server(t)
	srv.Timeout = 5 * time.Second
	ts := serve(t, srv)
	c, to := dialTest(t, ts.addr)
	if _, err := c.WriteTo(rq(1, "centos-6.5/images/pxeboot/vmlinuz", "octet"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	n, from, err := c.ReadFrom(buf)
	if err != nil || binary.BigEndian.Uint16(buf[2:]) != 1 {
		t.Fatalf("first block: %q, %v", buf[:min(n, 8)], err)
	}
	ack(t, c, from, 1)
	if _, _, err := c.ReadFrom(buf); err != nil || binary.BigEndian.Uint16(buf[2:]) != 2 {
		t.Fatalf("second block: %q, %v", buf[:8], err)
	}
	ack(t, c, from, 1) // the duplicate
	if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.ReadFrom(buf); err == nil {
		t.Fatalf("a duplicate ACK was answered: %q", buf[:min(n, 8)])
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ack(t, c, from, 2)
	if _, _, err := c.ReadFrom(buf); err != nil || binary.BigEndian.Uint16(buf[2:]) != 3 {
		t.Fatalf("third block: %q, %v", buf[:8], err)
	}
	ack(t, c, from, 3)
	ack(t, c, from, 4) // blocks of 512, 3000 bytes: 6 blocks; end it early
	_, _ = c.WriteTo([]byte{0, opERROR, 0, 0, 0}, from)
	if ev := ts.waitEvents(t, 1)[0]; ev.Kind != KindTransferFailed {
		t.Errorf("event %+v", ev)
	}
}

// TestLaneClientGone: a client whose port closes mid-transfer ends it at
// the next block sent (ICMP port unreachable on the connected socket),
// not after every retry.
func TestLaneClientGone(t *testing.T) {
	f := newFixture(t, 3000)
	srv := f.server(t)
	srv.Timeout, srv.Retries = 200*time.Millisecond, 50 // 10 s of retries
	ts := serve(t, srv)
	c, to := dialTest(t, ts.addr)
	if _, err := c.WriteTo(rq(1, "centos-6.5/images/pxeboot/vmlinuz", "octet"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	if _, _, err := c.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := time.Now()
	ev := ts.waitEvents(t, 1)[0]
	if ev.Kind != KindTransferFailed || !strings.Contains(ev.Attrs["error"], "client gone") {
		t.Errorf("event %+v", ev)
	}
	// A sanity bound, not a speed: the retries would take 10 s.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// dialTest is a client socket with a deadline for the whole test, and
// the server's address to send requests to.
func dialTest(t *testing.T, addr string) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c, to
}

// FuzzParseRRQ holds the lane's reading of a request from the network
// to pin/tftp's (unpackRQ: fields split at NUL, options in pairs, the
// last of a name winning) and the answer it makes to what it reads.
func FuzzParseRRQ(f *testing.F) {
	for _, seed := range [][]byte{
		rq(1, "pxelinux.0", "octet"),
		rq(1, "ipxe.efi", "octet", "blksize", "1468", "tsize", "0"),
		rq(1, "a", "netascii"),
		rq(2, "a", "octet"),
		rq(1, "a", "octet", "blksize", "+9999", "blksize", "600", "tsize"),
		[]byte("\x00\x01a"),
		{0, 1, 0, 0},
	} {
		f.Add(seed, 1468)
	}
	f.Fuzz(func(t *testing.T, p []byte, maxBlock int) {
		maxBlock = 512 + int(uint(maxBlock)%65000)
		r, ok := parseRRQ(p)
		fields := bytes.Split(p[min(2, len(p)):], []byte{0})
		isRRQ := len(p) >= 4 && p[0] == 0 && p[1] == 1 && len(fields) >= 2
		if want := isRRQ && string(fields[1]) != "netascii"; ok != want {
			t.Fatalf("%q: taken %v, want %v", p, ok, want)
		}
		if !ok {
			return
		}
		if r.name != string(fields[0]) {
			t.Fatalf("%q: name %q", p, r.name)
		}
		opts := map[string]string{}
		for i := 2; i+1 < len(fields) && len(fields) >= 4; i += 2 {
			opts[string(fields[i])] = string(fields[i+1])
		}
		if _, asked := opts["tsize"]; r.tsize != asked || r.blksize != opts["blksize"] {
			t.Fatalf("%q: read %+v, want options %q", p, r, opts)
		}
		oack, blksize := negotiate(r, maxBlock, 100)
		if blksize < 512 || blksize > max(512, min(maxBlock, 65464)) {
			t.Fatalf("%q: blksize %d with at most %d", p, blksize, maxBlock)
		}
		if oack == nil {
			if blksize != 512 || r.tsize {
				t.Fatalf("%q: no OACK, blksize %d, tsize %v", p, blksize, r.tsize)
			}
			return
		}
		f := strings.Split(strings.TrimSuffix(string(oack[2:]), "\x00"), "\x00")
		if len(f)%2 != 0 || binary.BigEndian.Uint16(oack) != opOACK {
			t.Fatalf("%q: OACK %q", p, oack)
		}
		for i := 0; i < len(f); i += 2 {
			switch f[i] {
			case "blksize":
				if f[i+1] != r.blksize && f[i+1] != fmt.Sprint(blksize) {
					t.Fatalf("%q: OACK %q, blksize %d", p, oack, blksize)
				}
			case "tsize":
				if f[i+1] != "100" {
					t.Fatalf("%q: OACK %q", p, oack)
				}
			default:
				t.Fatalf("%q: OACK %q", p, oack)
			}
		}
	})
}

// TestLaneLinkLocal: curl in a namespace of its own fetches a file over
// IPv6 link-local addresses on a veth pair, which the lane can only
// answer from a socket bound with the interface's zone. The server's end
// of the pair is in this process's namespace, as the lane opens a socket
// per transfer on whatever thread runs it.
func TestLaneLinkLocal(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (make deps)")
	}
	cliNS := netnstest.New(t)
	dev := "pvtl" + cliNS.Name[len(cliNS.Name)-6:]
	for _, args := range [][]string{
		{"link", "add", "name", dev, "type", "veth", "peer", "name", "eth0", "netns", cliNS.Name},
		{"addr", "add", "fe80::1/64", "dev", dev, "nodad"},
		{"link", "set", dev, "up"},
		{"-n", cliNS.Name, "addr", "add", "fe80::2/64", "dev", "eth0", "nodad"},
		{"-n", cliNS.Name, "link", "set", "eth0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		if args[1] == "add" && args[0] == "link" {
			// Removing the namespace removes the pair; this is for a
			// test that fails before that.
			t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dev).Run() })
		}
	}
	f := newFixture(t, 5000)
	srv := f.server(t)
	srv.Addr = "[fe80::1%" + dev + "]:0"
	ts := serve(t, srv)
	_, port, _ := net.SplitHostPort(ts.addr)
	url := "tftp://[fe80::1%25eth0]:" + port + "/centos-6.5/images/pxeboot/vmlinuz"
	out, err := cliNS.Command(t.Context(), "curl", "-sS", "-g", "--max-time", "10", "--tftp-blksize", "1468", url).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	if !bytes.Equal(out, f.kernel) {
		t.Errorf("got %d bytes, want the %d of the kernel", len(out), len(f.kernel))
	}
	if ev := ts.waitEvents(t, 1)[0]; ev.Kind != KindTransfer || ev.IP != "fe80::2%"+dev {
		t.Errorf("event %+v", ev)
	}
	if n := srv.laneServed.Load(); n != 1 {
		t.Errorf("lane took %d requests, want 1", n)
	}
}

// TestLaneBlockRollover: a file of more than 65,535 blocks of 512 bytes
// (a 32 MiB initrd to firmware that keeps to 512) numbers its blocks on
// from 0 after 65,535, as curl and pin/tftp's client expect.
func TestLaneBlockRollover(t *testing.T) {
	f := newFixture(t, 1000)
	const size = 65600 * 512
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i>>9 ^ i)
	}
	if err := os.WriteFile(filepath.Join(f.tree, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (make deps)")
	}
	ts := serve(t, f.server(t))
	// Not the curl helper: its 5 s limit is tight for 32 MiB at 512
	// bytes a block on a loaded machine.
	got, err := exec.CommandContext(t.Context(), "curl", "-sS", "--max-time", "120", "tftp://"+ts.addr+"/big").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("curl got %d bytes, not the %d of the file", len(got), size)
	}
	got, _, err = goGet(ts.addr, "big", 0, false)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("pin/tftp's client got %d bytes, not the %d of the file: %v", len(got), size, err)
	}
}

// TestLaneReadCalms: a read whose poll finds nothing parks, and the next
// calmFor reads park without polling; then polling resumes.
func TestLaneReadCalms(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := net.DialUDP("udp4", nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var active atomic.Int64
	active.Store(1)
	tr := &transfer{c: c, rc: raw, timeout: 50 * time.Millisecond, active: &active, spinMax: 1}
	var deadline time.Time
	if _, err := tr.read(t.Context(), &deadline); err == nil || tr.calm != calmFor {
		t.Fatalf("nothing to read: err %v, calm %d; want a timeout and calm %d", err, tr.calm, calmFor)
	}
	for i := range calmFor + 1 {
		if _, err := peer.WriteTo([]byte{0, opACK, 0, byte(i)}, c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		deadline = time.Time{}
		n, err := tr.read(t.Context(), &deadline)
		if err != nil || n != 4 || tr.recv[3] != byte(i) {
			t.Fatalf("read %d: %d bytes %q, %v", i, n, tr.recv[:n], err)
		}
		if want := max(calmFor-1-i, 0); tr.calm != want {
			t.Fatalf("after read %d: calm %d, want %d", i, tr.calm, want)
		}
	}
}

func TestSpinners(t *testing.T) {
	for procs, want := range map[int]int64{1: 0, 2: 1, 4: 1, 7: 1, 8: 2, 16: 4, 64: 16} {
		if got := spinners(procs); got != want {
			t.Errorf("spinners(%d) = %d, want %d", procs, got, want)
		}
	}
}

// TestLaneShutdownWakesWaiting: a transfer waiting for an ACK that does
// not come ends at once when the server stops, with an ERROR to the
// client, not after its timeout (here a minute) and retries.
func TestLaneShutdownWakesWaiting(t *testing.T) {
	f := newFixture(t, 3000)
	srv := f.server(t)
	srv.Timeout = time.Minute
	conn, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Conn = conn
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c, to := dialTest(t, conn.LocalAddr().String())
	if _, err := c.WriteTo(rq(1, "centos-6.5/images/pxeboot/vmlinuz", "octet"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	if n, _, err := c.ReadFrom(buf); err != nil || binary.BigEndian.Uint16(buf) != opDATA {
		t.Fatalf("first block: %q, %v", buf[:min(n, 8)], err)
	}
	// No ACK: nothing comes for a while (the transfer has stopped polling
	// and waits in Go's poller), then the server stops.
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.ReadFrom(buf); err == nil {
		t.Fatalf("a packet without an ACK: %q", buf[:min(n, 8)])
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cancel()
	n, _, err := c.ReadFrom(buf)
	if err != nil || binary.BigEndian.Uint16(buf) != opERROR || !strings.Contains(string(buf[4:n]), "shutting down") {
		t.Errorf("after cancel: %q, %v; want an ERROR", buf[:min(n, 40)], err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
