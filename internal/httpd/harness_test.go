package httpd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// The test site is the staging example with its management network moved
// to 127.3.2.0/24: every node's PXE address is a loopback address, so a
// client bound to it is, to the server, that node, with the production
// address check unchanged.
const (
	nodeName = "compute01"
	nodeAddr = "127.3.2.40"
	otherIP  = "127.3.2.41" // compute02's address
)

// testPlan builds the loopback staging plan with appliance_url pointing at
// base.
func testPlan(tb testing.TB, base string) *provision.Plan {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "sites", "staging.toml"))
	if err != nil {
		tb.Fatal(err)
	}
	site := strings.ReplaceAll(string(src), "10.3.x.", "127.3.x.")
	site = strings.Replace(site, "appliance = \"admin01\"\n", "appliance = \"admin01\"\nappliance_url = \""+base+"\"\n", 1)
	sec, err := os.ReadFile(filepath.Join("..", "..", "sites", "staging.secrets.toml"))
	if err != nil {
		tb.Fatal(err)
	}
	for name, b := range map[string]string{"staging.toml": site, "staging.secrets.toml": string(sec)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	s, probs := provision.Load(filepath.Join(dir, "staging.toml"))
	if errs := probs.Errors(); len(errs) > 0 {
		tb.Fatalf("load: %v", errs)
	}
	plan, probs := provision.Build(s, provision.Options{})
	if errs := probs.Errors(); len(errs) > 0 {
		tb.Fatalf("build: %v", errs)
	}
	return plan
}

// events collects emitted events; safe for the server's goroutines.
type events struct {
	mu  sync.Mutex
	all []provision.Event
	st  *store.Store
}

func (e *events) sink(ev provision.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	if e.st != nil {
		_, _ = e.st.Append(ev)
	}
}

func (e *events) list() []provision.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]provision.Event(nil), e.all...)
}

// env is a running server and what it was given.
type env struct {
	base   string
	plan   *provision.Plan
	store  *store.Store
	keys   *hostkeys.Store
	ev     *events
	state  string
	images string
	logs   *strings.Builder
	logMu  *sync.Mutex
	srv    *Server
	stop   func() // stops the server and closes the store; idempotent
}

// fakeKickstart stands in for kickstart.Render: its bytes say whose it is.
func fakeKickstart(_ context.Context, _ *provision.Plan, n *provision.NodePlan) ([]byte, error) {
	return []byte("# kickstart of " + n.Name + "\n"), nil
}

// start runs a server on 127.0.0.1:0 until the test ends, with a real
// state store and key store under a temp state directory and a small
// install tree.
func start(t testing.TB) *env { return startPlan(t, nil) }

// startPlan is start with the plan made by mkPlan from the server's base
// URL (nil: testPlan).
func startPlan(t testing.TB, mkPlan func(base string) *provision.Plan) *env {
	t.Helper()
	return startWith(t, mkPlan, nil)
}

// startWith is startPlan with the server changed by configure, when not
// nil, before it serves.
func startWith(t testing.TB, mkPlan func(base string) *provision.Plan, configure func(*Server)) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{base: "http://" + ln.Addr().String(), state: t.TempDir(), images: t.TempDir(), logs: &strings.Builder{}}
	if mkPlan == nil {
		mkPlan = func(base string) *provision.Plan { return testPlan(t, base) }
	}
	e.plan = mkPlan(e.base)
	if e.store, err = store.Open(e.state, time.Second); err != nil {
		t.Fatal(err)
	}
	if e.keys, err = hostkeys.Open(e.state); err != nil {
		t.Fatal(err)
	}
	e.ev = &events{st: e.store}
	writeTree(t, e.images)
	root, err := os.OpenRoot(e.images)
	if err != nil {
		t.Fatal(err)
	}
	e.logMu = &sync.Mutex{}
	srv := &Server{
		Listener:  ln,
		Plan:      func() *provision.Plan { return e.plan },
		Flags:     e.store,
		Tokens:    e.keys,
		MACs:      e.store.MACs,
		Kickstart: fakeKickstart,
		Images:    root,
		Events:    e.ev.sink,
		Log:       slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(srv)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			root.Close()
			e.store.Close()
		})
	}
	t.Cleanup(e.stop)
	// The node's NIC was discovered over its iDRAC (no MACs in the site).
	if err := e.store.SetMACs(nodeName, map[string]string{"em1": "52:54:00:00:00:40", "em2": "52:54:00:00:01:40"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// logText is what the server has logged so far.
func (e *env) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// bigSize is the size of the large install-tree file.
const bigSize = 8 << 20

func writeTree(t testing.TB, dir string) {
	tree := filepath.Join(dir, "centos-6.5")
	if err := os.MkdirAll(filepath.Join(tree, "images", "pxeboot"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"images/pxeboot/vmlinuz":    "kernel-bytes",
		"images/pxeboot/initrd.img": "initrd-bytes",
		".treeinfo":                 "[general]\nfamily = CentOS\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(tree, "images", "install.img"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-outside")
	if err := os.WriteFile(secret, []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secret) })
	if err := os.Symlink(secret, filepath.Join(tree, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("images/pxeboot/vmlinuz", filepath.Join(tree, "inside")); err != nil {
		t.Fatal(err)
	}
}

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// do sends a request from ip and returns the status and body.
func do(t *testing.T, ip, method, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := clientFrom(ip).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *env) token(t testing.TB, node string) string {
	t.Helper()
	tok, err := e.keys.Token(node)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
