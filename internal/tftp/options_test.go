package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawRRQ sends a read request with options from a plain UDP socket and
// returns the options of the server's OACK and the length of the first
// DATA block, to see exactly what the server negotiated.
func rawRRQ(t *testing.T, addr, name string, opts ...string) (map[string]string, int) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var req bytes.Buffer
	req.Write([]byte{0, 1})
	for _, s := range append([]string{name, "octet"}, opts...) {
		req.WriteString(s)
		req.WriteByte(0)
	}
	if _, err := conn.WriteTo(req.Bytes(), to); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	n, from, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	switch op := binary.BigEndian.Uint16(buf); op {
	case 6: // OACK, RFC 2347
		f := strings.Split(strings.TrimSuffix(string(buf[2:n]), "\x00"), "\x00")
		for i := 0; i+1 < len(f); i += 2 {
			got[f[i]] = f[i+1]
		}
		// ACK block 0 accepts the options; DATA 1 follows.
		if _, err := conn.WriteTo([]byte{0, 4, 0, 0}, from); err != nil {
			t.Fatal(err)
		}
		if n, _, err = conn.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	case 3: // DATA without options
	default:
		t.Fatalf("opcode %d: %q", op, buf[:n])
	}
	if op := binary.BigEndian.Uint16(buf); op != 3 || binary.BigEndian.Uint16(buf[2:]) != 1 {
		t.Fatalf("want DATA block 1, got %q", buf[:min(n, 40)])
	}
	// Tell the server to stop: an ERROR ends the transfer (RFC 1350).
	_, _ = conn.WriteTo([]byte{0, 5, 0, 0, 0}, from)
	return got, n - 4
}

func TestBlksizeAndTsize(t *testing.T) {
	f := newFixture(t, 20000)
	const kernel = "centos-6.5/images/pxeboot/vmlinuz"
	for _, tt := range []struct {
		name     string
		max      int
		opts     []string
		wantOpts map[string]string
		wantData int
	}{
		{"none", 0, nil, map[string]string{}, 512},
		{"blksize 1468 and tsize", 0, []string{"blksize", "1468", "tsize", "0"}, map[string]string{"blksize": "1468", "tsize": "20000"}, 1468},
		{"blksize 8192", 0, []string{"blksize", "8192"}, map[string]string{"blksize": "8192"}, 8192},
		{"capped by MaxBlockSize", 1468, []string{"blksize", "8192"}, map[string]string{"blksize": "1468"}, 1468},
		{"blksize too large is ignored", 0, []string{"blksize", "70000", "tsize", "0"}, map[string]string{"tsize": "20000"}, 512},
		{"unknown option ignored", 0, []string{"windowsize", "8"}, map[string]string{}, 512},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := f.server(t)
			srv.MaxBlockSize = tt.max
			ts := serve(t, srv)
			opts, n := rawRRQ(t, ts.addr, kernel, tt.opts...)
			if d := cmp.Diff(tt.wantOpts, opts); d != "" {
				t.Errorf("OACK options (-want +got):\n%s", d)
			}
			if n != tt.wantData {
				t.Errorf("first block %d bytes, want %d", n, tt.wantData)
			}
			// The aborted transfer is reported as failed, with what was sent.
			if ev := ts.waitEvents(t, 1)[0]; ev.Kind != KindTransferFailed || ev.Attrs["bytes"] != fmt.Sprint(tt.wantData) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// TestShutdownAbortsTransfers cancels the server's context in the middle
// of a transfer: the client gets an ERROR instead of its next block, and
// Serve returns.
func TestShutdownAbortsTransfers(t *testing.T) {
	f := newFixture(t, 100000)
	srv := f.server(t)
	conn, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Conn = conn
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo([]byte("\x00\x01centos-6.5/images/pxeboot/vmlinuz\x00octet\x00"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	n, from, err := c.ReadFrom(buf)
	if err != nil || n != 516 || buf[1] != 3 {
		t.Fatalf("first block: %d bytes %q, %v", n, buf[:min(n, 8)], err)
	}
	cancel()
	if _, err := c.WriteTo([]byte{0, 4, 0, 1}, from); err != nil {
		t.Fatal(err)
	}
	n, _, err = c.ReadFrom(buf)
	if err != nil || buf[1] != 5 || !strings.Contains(string(buf[4:n]), "shutting down") {
		t.Errorf("after cancel: %q, %v; want an ERROR", buf[:n], err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestSizeProbe answers the OACK with an ERROR, as UEFI firmware does
// when it only wanted the size: a probe, not a failed transfer.
func TestSizeProbe(t *testing.T) {
	f := newFixture(t, 5000)
	ts := serve(t, f.server(t))
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp4", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo([]byte("\x00\x01centos-6.5/images/pxeboot/vmlinuz\x00octet\x00tsize\x000\x00"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	n, from, err := c.ReadFrom(buf)
	if err != nil || buf[1] != 6 || !strings.Contains(string(buf[:n]), "tsize\x005000\x00") {
		t.Fatalf("want an OACK with tsize 5000, got %q, %v", buf[:n], err)
	}
	if _, err := c.WriteTo([]byte("\x00\x05\x00\x08size only\x00"), from); err != nil {
		t.Fatal(err)
	}
	ev := ts.waitEvents(t, 1)[0]
	if ev.Kind != KindProbe || ev.Attrs["size"] != "5000" || ev.Attrs["error"] != "" {
		t.Errorf("event %+v, want a probe of size 5000", ev)
	}
}
