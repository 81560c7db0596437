package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// atftp runs Debian's atftp client, a second real peer beside curl with
// its own option handling, as `atftp --trace -g|-p -r path -l local`. It
// returns the local file's content after the run, atftp's trace (every
// packet sent and received) and an error when atftp exits non-zero.
// opts are RFC 2347 options as atftp takes them: "blksize 1468", "tsize 0".
func atftp(t testing.TB, addr, op, path, local string, opts ...string) ([]byte, string, error) {
	t.Helper()
	bin, err := exec.LookPath("atftp")
	if err != nil {
		t.Skip("atftp not installed (make deps)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--tftp-timeout", "1", "--trace"}
	for _, o := range opts {
		args = append(args, "--option", o)
	}
	args = append(args, op, "-r", path, "-l", local, host, port)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	trace, runErr := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	got, _ := os.ReadFile(local)
	if runErr != nil {
		runErr = fmt.Errorf("atftp %s %.60s: %w", op, path, runErr)
	}
	return got, string(trace), runErr
}

func TestServeWithAtftp(t *testing.T) {
	f := newFixture(t, 3*1468+100)
	ts := serve(t, f.server(t))
	cfg := []byte("DEFAULT install # for 127.0.0.1\n")
	for _, tt := range []struct {
		name, path string
		opts       []string
		want       []byte
		wantTrace  []string // lines atftp must have printed
	}{
		{"loader, no options", "undionly.kpxe", nil, []byte("undionly"),
			[]string{"DATA <block: 1, size 8>"}},
		{"kernel, blksize 512 by default", "centos-6.5/images/pxeboot/vmlinuz", nil, f.kernel,
			[]string{"DATA <block: 1, size 512>", "DATA <block: 9, size 408>"}},
		{"kernel, blksize 1468 and tsize", "centos-6.5/images/pxeboot/vmlinuz", []string{"blksize 1468", "tsize 0"}, f.kernel,
			[]string{fmt.Sprintf("OACK <tsize: %d, blksize: 1468,", len(f.kernel)), "DATA <block: 1, size 1468>", "DATA <block: 4, size 100>"}},
		{"symlink inside the tree", "centos-6.5/inside", []string{"blksize 1468"}, f.kernel,
			[]string{"OACK <blksize: 1468,"}},
		{"per-node config with tsize", "pxelinux.cfg/01-52-54-00-00-00-01", []string{"tsize 0"}, cfg,
			[]string{fmt.Sprintf("OACK <tsize: %d,", len(cfg))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, trace, err := atftp(t, ts.addr, "-g", tt.path, filepath.Join(t.TempDir(), "out"), tt.opts...)
			if err != nil {
				t.Fatalf("%v\n%s", err, trace)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(tt.want))
			}
			for _, w := range tt.wantTrace {
				if !strings.Contains(trace, w) {
					t.Errorf("trace has no %q:\n%s", w, trace)
				}
			}
		})
	}
	for _, ev := range ts.waitEvents(t, 5) {
		if ev.Kind != KindTransfer || ev.Node != "compute01" {
			t.Errorf("event %+v", ev)
		}
	}
}

// TestRefusalsWithAtftp sends the traversal attempts with atftp:
// each gets an ERROR packet and no DATA. atftp cannot send a NUL (its
// names are C strings; pin/tftp's client sends one in TestRefusals) and
// cuts a name to 255 bytes, so its "600-byte name" arrives as a valid
// name that does not exist.
func TestRefusalsWithAtftp(t *testing.T) {
	f := newFixture(t, 1000)
	ts := serve(t, f.server(t))
	for _, tt := range []struct {
		name, path string
		want       string // in the server's ERROR packet
	}{
		{"dotdot passwd", "../../etc/passwd", "'..' in path"},
		{"dotdot secret", "../secret", "'..' in path"},
		{"dotdot inside", "centos-6.5/../../secret", "'..' in path"},
		{"absolute", "/etc/passwd", "absolute path"},
		{"absolute secret", f.secret, "absolute path"},
		{"percent dots", "%2e%2e/secret", "file not found"},
		{"percent dots passwd", "%2e%2e/%2e%2e/etc/passwd", "file not found"},
		{"backslash", `..\secret`, "backslash"},
		{"600-byte name, cut to 255", strings.Repeat("a", 600), "file not found: " + strings.Repeat("a", 255) + ">"},
		{"symlink absolute out", "centos-6.5/escape", "cannot read"},
		{"symlink relative out", "centos-6.5/up", "cannot read"},
		{"directory", "centos-6.5/images", "cannot read"},
	} {
		for _, opts := range [][]string{nil, {"blksize 1468", "tsize 0"}} {
			t.Run(fmt.Sprintf("%s/options=%d", tt.name, len(opts)), func(t *testing.T) {
				got, trace, err := atftp(t, ts.addr, "-g", tt.path, filepath.Join(t.TempDir(), "out"), opts...)
				if err == nil {
					t.Errorf("atftp succeeded:\n%s", trace)
				}
				if !strings.Contains(trace, "error received from server <") || !strings.Contains(trace, tt.want) {
					t.Errorf("want an ERROR with %q:\n%s", tt.want, trace)
				}
				if strings.Contains(trace, "DATA") || strings.Contains(trace, "OACK") || len(got) > 0 {
					t.Errorf("got content (%d bytes):\n%s", len(got), trace)
				}
			})
		}
	}
	evs := ts.waitEvents(t, 2*12)
	for _, ev := range evs {
		if ev.Kind != KindRefused && ev.Kind != KindNotFound {
			t.Errorf("event %+v", ev)
		}
	}
}

func TestWriteRefusedWithAtftp(t *testing.T) {
	f := newFixture(t, 10)
	ts := serve(t, f.server(t))
	local := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(local, []byte("uploaded"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, trace, err := atftp(t, ts.addr, "-p", "centos-6.5/new", local)
	if err == nil || !strings.Contains(trace, "write refused") {
		t.Errorf("atftp put: %v, want a refusal:\n%s", err, trace)
	}
	if _, err := os.Stat(filepath.Join(f.tree, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file was written: %v", err)
	}
	if evs := ts.waitEvents(t, 1); evs[0].Kind != KindRefused {
		t.Errorf("event %+v", evs[0])
	}
}
