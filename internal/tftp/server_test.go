package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	pintftp "github.com/pin/tftp/v3"
	"github.com/provision/provision/provision"
)

// testServer is a Server on 127.0.0.1 with the events it emitted.
type testServer struct {
	addr string
	srv  *Server
	mu   sync.Mutex
	evs  []provision.Event
	cond chan struct{} // closed and replaced on every event
}

func (ts *testServer) sink(ev provision.Event) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.evs = append(ts.evs, ev)
	close(ts.cond)
	ts.cond = make(chan struct{})
}

// waitEvents waits until n events arrived and returns them.
func (ts *testServer) waitEvents(t testing.TB, n int) []provision.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ts.mu.Lock()
		evs, c := append([]provision.Event(nil), ts.evs...), ts.cond
		ts.mu.Unlock()
		if len(evs) >= n {
			return evs
		}
		select {
		case <-c:
		case <-deadline:
			t.Fatalf("waited for %d events, got %d: %+v", n, len(evs), evs)
		}
	}
}

// serve starts a Server with routes on a loopback port (of srv.Addr
// when set, else 127.0.0.1); it stops at the
// end of the test, and the test fails if it does not stop in time.
func serve(t testing.TB, srv *Server) *testServer {
	t.Helper()
	addr := "127.0.0.1:0"
	if srv.Addr != "" {
		addr = srv.Addr
	}
	conn, err := Listen(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: conn.LocalAddr().String(), srv: srv, cond: make(chan struct{})}
	srv.Conn = conn
	srv.Events = ts.sink
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ts
}

// fixture is a served directory with a tree, loaders and a secret beside
// them that no request may reach.
type fixture struct {
	dir, tree, secret string
	kernel            []byte
}

func newFixture(t testing.TB, kernelSize int) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.tree = filepath.Join(f.dir, "images")
	f.secret = filepath.Join(f.dir, "secret")
	f.kernel = make([]byte, kernelSize)
	for i := range f.kernel {
		f.kernel[i] = byte(i * 7 / 3)
	}
	for p, c := range map[string][]byte{
		"images/centos-6.5/images/pxeboot/vmlinuz":   f.kernel,
		"images/centos-6.5/.treeinfo":                []byte("[general]\n"),
		"images/.import-centos-6.5-1/tree/.treeinfo": []byte("[general]\n"),
		"loaders/undionly.kpxe":                      []byte("undionly"),
		"secret":                                     []byte("secret"),
	} {
		full := filepath.Join(f.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{
		"centos-6.5/escape": f.secret,                 // absolute, out of the root
		"centos-6.5/up":     "../../secret",           // relative, out of the root
		"centos-6.5/inside": "images/pxeboot/vmlinuz", // stays inside: served
	} {
		if err := os.Symlink(target, filepath.Join(f.tree, name)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// server is the routes the appliance uses: loaders, per-node configs,
// install trees.
func (f *fixture) server(t testing.TB) *Server {
	t.Helper()
	root, err := os.OpenRoot(f.tree)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &Server{
		Routes: []Route{
			LocalBoot("local-boot.efi"),
			Files("loaders", map[string]string{"undionly.kpxe": filepath.Join(f.dir, "loaders/undionly.kpxe")}),
			Dynamic("pxelinux.cfg", Prefix("pxelinux.cfg/"), func(_ context.Context, remote netip.Addr, path string) ([]byte, error) {
				if path != "pxelinux.cfg/01-52-54-00-00-00-01" {
					return nil, fmt.Errorf("no config %s: %w", path, fs.ErrNotExist)
				}
				return []byte("DEFAULT install # for " + remote.String() + "\n"), nil
			}),
			Tree("trees", "", root),
		},
		Lookup: func(a netip.Addr) string {
			if a == netip.MustParseAddr("127.0.0.1") {
				return "compute01"
			}
			return ""
		},
		Timeout: 500 * time.Millisecond,
		Retries: 2,
	}
}

// curl fetches path with Debian's curl and returns its output and error.
func curl(t testing.TB, addr, path string, blksize int) ([]byte, error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (make deps)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	args := []string{"-sS", "--path-as-is", "--max-time", "5", "tftp://" + addr + "/" + path}
	if blksize > 0 {
		args = append(args, "--tftp-blksize", fmt.Sprint(blksize))
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "curl", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("curl %s: %w: %s", path, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// goGet fetches name with the pin/tftp client.
func goGet(addr, name string, blksize int, tsize bool) ([]byte, int64, error) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return nil, 0, err
	}
	c.SetTimeout(time.Second)
	c.SetRetries(2)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(tsize)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if it, ok := wt.(pintftp.IncomingTransfer); ok {
		if n, ok := it.Size(); ok {
			size = n
		}
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), size, err
}

func TestServeWithCurl(t *testing.T) {
	f := newFixture(t, 3*1468+100)
	ts := serve(t, f.server(t))
	for _, tt := range []struct {
		name, path string
		blksize    int
		want       []byte
	}{
		{"loader", "undionly.kpxe", 0, []byte("undionly")},
		{"kernel blksize 1468", "centos-6.5/images/pxeboot/vmlinuz", 1468, f.kernel},
		{"kernel blksize 512", "centos-6.5/images/pxeboot/vmlinuz", 512, f.kernel},
		{"symlink inside the tree", "centos-6.5/inside", 1468, f.kernel},
		{"per-node config", "pxelinux.cfg/01-52-54-00-00-00-01", 0, []byte("DEFAULT install # for 127.0.0.1\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := curl(t, ts.addr, tt.path, tt.blksize)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
	evs := ts.waitEvents(t, 5)
	want := provision.Event{Node: "compute01", Source: "tftp", Kind: KindTransfer, IP: "127.0.0.1",
		Attrs: map[string]string{"file": "centos-6.5/images/pxeboot/vmlinuz", "route": "trees", "bytes": fmt.Sprint(len(f.kernel))}}
	if d := cmp.Diff(want, evs[1], cmpopts.IgnoreFields(provision.Event{}, "Time"),
		cmpopts.IgnoreMapEntries(func(k, _ string) bool { return k == "duration" })); d != "" {
		t.Errorf("event (-want +got):\n%s", d)
	}
	if _, err := time.ParseDuration(evs[1].Attrs["duration"]); err != nil || evs[1].Time.IsZero() {
		t.Errorf("event duration %q, time %v", evs[1].Attrs["duration"], evs[1].Time)
	}
}

// TestRefusals sends what an attacker would, raw through the pin/tftp
// client and as curl URLs: each gets an error and never the secret.
func TestRefusals(t *testing.T) {
	f := newFixture(t, 1000)
	ts := serve(t, f.server(t))
	for _, tt := range []struct {
		name, path string
		want       string // in the client's error
	}{
		{"dotdot", "../../secret", "'..' in path"},
		{"dotdot inside", "centos-6.5/../../secret", "'..' in path"},
		{"absolute", "/etc/passwd", "absolute path"},
		{"absolute secret", f.secret, "absolute path"},
		{"percent dots", "%2e%2e/secret", "file not found"},
		{"backslash", `..\secret`, "backslash"},
		{"nul cut", "secret\x00.kpxe", "file not found"},
		{"long", strings.Repeat("a", 300), "name of 300 bytes"},
		{"control", "centos-6.5/\x01", "control character"},
		{"double slash", "centos-6.5//.treeinfo", "empty or '.' path element"},
		{"symlink absolute out", "centos-6.5/escape", "cannot read"},
		{"symlink relative out", "centos-6.5/up", "cannot read"},
		{"directory", "centos-6.5/images", "cannot read"},
		{"no config", "pxelinux.cfg/default", "file not found"},
		{"hidden import directory", ".import-centos-6.5-1/tree/.treeinfo", "file not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := goGet(ts.addr, tt.path, 0, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
			if bytes.Contains(got, []byte("secret")) {
				t.Errorf("got the secret")
			}
		})
	}
	// A name too long for the library's 516-byte request buffer is
	// dropped unanswered: the client times out, with no content.
	if got, _, err := goGet(ts.addr, strings.Repeat("a", 600), 0, false); err == nil || len(got) > 0 {
		t.Errorf("600-byte name: %q, %v", got, err)
	}
	// curl normalises nothing with --path-as-is and decodes %2e itself;
	// it refuses a 600-byte name and %00 before sending, which is fine too.
	for _, p := range []string{"../../secret", "%2e%2e/%2e%2e/secret", "centos-6.5/escape", "centos-6.5/up", "..%5csecret",
		strings.Repeat("a", 600), "secret%00.kpxe"} {
		if got, err := curl(t, ts.addr, p, 1468); err == nil || len(got) > 0 {
			t.Errorf("curl %s: %q, %v", p, got, err)
		}
	}
	evs := ts.waitEvents(t, 15+5)
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
		if e.Kind == KindTransfer {
			t.Errorf("a refused request was served: %+v", e)
		}
	}
	if kinds[KindRefused] == 0 || kinds[KindNotFound] == 0 {
		t.Errorf("event kinds %v", kinds)
	}
}

// TestLocalBoot: the file offered to UEFI firmware of a node whose
// netboot is off is refused with an ERROR packet that says why (so that
// the firmware boots its disk at once), and recorded as local-boot, not
// as a missing file.
func TestLocalBoot(t *testing.T) {
	f := newFixture(t, 1000)
	ts := serve(t, f.server(t))
	// curl reports error code 1 as its exit status 68, "file not found".
	got, err := curl(t, ts.addr, "local-boot.efi", 1468)
	if err == nil || len(got) > 0 || !strings.Contains(err.Error(), "exit status 68") {
		t.Errorf("curl local-boot.efi: %q, %v", got, err)
	}
	// With tsize, as UEFI firmware asks first: the same answer, and the
	// reason in the ERROR packet.
	if _, _, err := goGet(ts.addr, "local-boot.efi", 1468, true); err == nil || !strings.Contains(err.Error(), "netboot is off: boot from the local disk") {
		t.Errorf("with tsize: %v", err)
	}
	for _, e := range ts.waitEvents(t, 2) {
		if e.Kind != KindLocalBoot || e.Node != "compute01" || e.Attrs["file"] != "local-boot.efi" {
			t.Errorf("event %+v", e)
		}
	}
}

func TestWriteRefused(t *testing.T) {
	f := newFixture(t, 10)
	ts := serve(t, f.server(t))
	c, err := pintftp.NewClient(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	_, err = c.Send("centos-6.5/new", "octet")
	if err == nil || !strings.Contains(err.Error(), "write refused") {
		t.Errorf("Send: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(f.tree, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file was written: %v", err)
	}
	evs := ts.waitEvents(t, 1)
	if evs[0].Kind != KindRefused || evs[0].Node != "compute01" || evs[0].Attrs["file"] != "centos-6.5/new" {
		t.Errorf("event %+v", evs[0])
	}
}

func TestTsizeWithGoClient(t *testing.T) {
	f := newFixture(t, 70000)
	ts := serve(t, f.server(t))
	for _, tt := range []struct {
		name, path string
		want       []byte
	}{
		{"file", "centos-6.5/images/pxeboot/vmlinuz", f.kernel},
		{"dynamic", "pxelinux.cfg/01-52-54-00-00-00-01", []byte("DEFAULT install # for 127.0.0.1\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, size, err := goGet(ts.addr, tt.path, 1468, true)
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(tt.want)) || !bytes.Equal(got, tt.want) {
				t.Errorf("tsize %d, %d bytes; want %d", size, len(got), len(tt.want))
			}
		})
	}
}
