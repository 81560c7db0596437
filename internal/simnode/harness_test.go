package simnode

import (
	"context"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/internal/httpd"
	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tftp"
	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// The lab of these tests: the paper site's management network (x = 1),
// admin01's address on the appliance side, compute01 on the node side.
const (
	appIf     = "pv-app"
	nodeIf    = "em1"
	appAddr   = "10.3.1.10/24"
	nodeName  = "compute01"
	nodeMAC   = "52:54:00:5e:00:40"
	nodeAddr  = "10.3.1.40"
	labWait   = 60 * time.Second
	loaderBIO = "undionly.kpxe"
	loaderEFI = "ipxe.efi"
	// loaderPXELinux stands for pxelinux.0: its bytes are not run.
	loaderPXELinux = "pxelinux.0"
)

// loadPlan builds the paper site from a copy of its files (secrets 0600)
// with compute01's PXE NIC MAC, as the lab's iDRAC would report it.
func loadPlan(t testing.TB) (*provision.Plan, *provision.Site) {
	return loadPlanEdited(t, nil, map[string]string{nodeName: nodeMAC})
}

// loadPlanEdited is loadPlan with the site file changed by edit first,
// and macs as the nodes' em1 MACs.
func loadPlanEdited(t testing.TB, edit func(string) string, macs map[string]string) (*provision.Plan, *provision.Site) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"paper.toml", "paper.secrets.toml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "sites", f))
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil && f == "paper.toml" {
			data = []byte(edit(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site, probs := provision.Load(filepath.Join(dir, "paper.toml"))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	opt := provision.Options{MACs: map[string]map[string]string{}}
	for n, mac := range macs {
		opt.MACs[n] = map[string]string{"em1": mac}
	}
	plan, probs := provision.Build(site, opt)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return plan, site
}

// lab is the appliance namespace (the test process's, see TestMain)
// running the project's DHCP, TFTP and HTTP servers, and a node namespace joined to it by a veth pair whose node
// end has compute01's MAC.
type lab struct {
	app, node *netnstest.NS
	appIf     string            // the appliance's interface
	macs      map[string]string // node -> em1 MAC
	plan      *provision.Plan
	site      *provision.Site
	store     *store.Store
	keys      *hostkeys.Store
	// bootAll makes DHCP offer a boot file whatever the netboot flag, so
	// that the HTTP boot script decides (as with a DHCP server that does
	// not read the flag).
	bootAll atomic.Bool
	// ksEdit, when set, changes every kickstart served.
	ksEdit atomic.Pointer[func([]byte) []byte]

	mu     sync.Mutex
	events []provision.Event
	newEv  chan struct{} // closed and replaced at each event
}

func newLab(t testing.TB) *lab { return newLabEdited(t, nil) }

// newLabEdited is newLab on the paper site changed by edit.
func newLabEdited(t testing.TB, edit func(string) string) *lab {
	t.Helper()
	netnstest.Require(t)
	app := os.Getenv(appNSEnv)
	if app == "" {
		t.Skip("needs TestMain's appliance namespace (run as root with iproute2)")
	}
	l := &lab{app: &netnstest.NS{Name: app}, node: netnstest.New(t), appIf: appIf, macs: map[string]string{nodeName: nodeMAC}}
	netnstest.Link(t, l.app, appIf, appAddr, l.node, nodeIf, "", nodeMAC)
	// Removing the node's namespace removes the pair only later, in the
	// kernel's own time: the next test's pair would clash with this one.
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", "dev", appIf).CombinedOutput(); err != nil {
			t.Errorf("remove %s: %v: %s", appIf, err, out)
		}
	})
	l.start(t, edit)
	return l
}

// start loads the plan, opens the stores and serves.
func (l *lab) start(t testing.TB, edit func(string) string) {
	t.Helper()
	l.newEv = make(chan struct{})
	l.plan, l.site = loadPlanEdited(t, edit, l.macs)
	state := t.TempDir()
	var err error
	if l.store, err = store.Open(state, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.store.Close() })
	if l.keys, err = hostkeys.Open(state); err != nil {
		t.Fatal(err)
	}
	for n, mac := range l.macs {
		if err := l.store.SetMACs(n, map[string]string{"em1": mac}); err != nil {
			t.Fatal(err)
		}
	}
	l.serve(t)
}

func (l *lab) sink(e provision.Event) {
	_, _ = l.store.Append(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	close(l.newEv)
	l.newEv = make(chan struct{})
}

// waitEvent waits for the n-th (from 1) event of kind about the node.
func (l *lab) waitEvent(t testing.TB, kind string, n int) provision.Event {
	t.Helper()
	deadline := time.After(labWait)
	for {
		l.mu.Lock()
		seen := 0
		for _, e := range l.events {
			if e.Kind == kind && e.Node == nodeName {
				if seen++; seen == n {
					l.mu.Unlock()
					return e
				}
			}
		}
		ch := l.newEv
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s event #%d for %s within %s; events: %s", kind, n, nodeName, labWait, l.kinds())
		}
	}
}

// waitAll waits until n events of kind, about any node, have come.
func (l *lab) waitAll(t testing.TB, kind string, n int) {
	t.Helper()
	deadline := time.After(3 * labWait)
	for {
		l.mu.Lock()
		seen := 0
		for _, e := range l.events {
			if e.Kind == kind {
				seen++
			}
		}
		ch := l.newEv
		l.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d %s events of %d within %s", seen, kind, n, 3*labWait)
		}
	}
}

// count is the number of events of kind about the node.
func (l *lab) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == kind && e.Node == nodeName {
			n++
		}
	}
	return n
}

func (l *lab) kinds() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Source+":"+e.Kind)
	}
	return strings.Join(out, " ")
}

// serve starts the appliance's servers in the appliance namespace until
// the test ends; it returns once their sockets are open.
func (l *lab) serve(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	loader := filepath.Join(dir, loaderBIO)
	writeFile(t, loader, strings.Repeat("iPXE", 4000))
	images := filepath.Join(dir, "images")
	tree := filepath.Join(images, "centos-6.5")
	writeFile(t, filepath.Join(tree, "images", "pxeboot", "vmlinuz"), strings.Repeat("k", 50000))
	writeFile(t, filepath.Join(tree, "images", "pxeboot", "initrd.img"), strings.Repeat("i", 120000))
	root, err := os.OpenRoot(images)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	// The servers' goroutines end when ctx does, at the end of the test.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("server: %v", err)
			}
		}
	})
	dhcpUp := make(chan struct{})
	ds := l.dhcpServer(dhcpUp)
	wg.Go(func() { errs <- ds.Serve(ctx) })
	// This process runs in the appliance's namespace (TestMain).
	tconn, err := tftp.Listen(ctx, "10.3.1.10:69")
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "10.3.1.10:80")
	if err != nil {
		t.Fatal(err)
	}
	ts := l.tftpServer(tconn, loader, root)
	wg.Go(func() { errs <- ts.Serve(ctx) })
	hs := l.httpServer(hln, root)
	wg.Go(func() { errs <- hs.Serve(ctx) })
	select {
	case <-dhcpUp:
	case <-time.After(labWait):
		t.Fatal("DHCP server did not open its socket")
	}
}

// dhcpServer answers on the appliance's interface; up is closed once its
// socket is open.
func (l *lab) dhcpServer(up chan struct{}) *dhcp.Server {
	var once sync.Once
	return &dhcp.Server{
		Plan:      func() *provision.Plan { return l.plan },
		Interface: l.appIf,
		NoProbe:   true,
		Events:    l.sink,
		Netboot: func(n *provision.NodePlan) bool {
			on, err := l.store.Netboot(n)
			return l.bootAll.Load() || (err == nil && on)
		},
		ListenPacket: func(ctx context.Context, port int) (net.PacketConn, error) {
			c, err := dhcp.ListenUDP(ctx, l.appIf, port)
			once.Do(func() { close(up) })
			return c, err
		},
	}
}

// tftpServer serves the boot loaders (one fake file under each name),
// pxelinux configs and the install tree, as the appliance routes them.
func (l *lab) tftpServer(conn net.PacketConn, loader string, images *os.Root) *tftp.Server {
	routes := []tftp.Route{
		tftp.Files("loaders", map[string]string{loaderBIO: loader, loaderEFI: loader, loaderPXELinux: loader}),
		tftp.Dynamic("pxelinux.cfg", tftp.Prefix("pxelinux.cfg/"), l.pxelinuxConfig),
		tftp.Tree("images", "images/", images),
	}
	return &tftp.Server{Conn: conn, Routes: routes, Events: l.sink, Lookup: func(a netip.Addr) string {
		for _, n := range l.plan.Nodes {
			if n.PXE.Address == a {
				return n.Name
			}
		}
		return ""
	}}
}

// httpServer serves scripts, kickstarts (rendered with the key store's
// inputs, changed by ksEdit when set), callbacks and the install tree.
func (l *lab) httpServer(ln net.Listener, images *os.Root) *httpd.Server {
	return &httpd.Server{
		Listener: ln,
		Plan:     func() *provision.Plan { return l.plan },
		Flags:    l.store,
		Tokens:   l.keys,
		Kickstart: func(_ context.Context, plan *provision.Plan, n *provision.NodePlan) ([]byte, error) {
			in, err := l.keys.KickstartInputs(n.Name, l.site.Secrets)
			if err != nil {
				return nil, err
			}
			ks, err := kickstart.Render(plan, n, in)
			if edit := l.ksEdit.Load(); err == nil && edit != nil {
				ks = (*edit)(ks)
			}
			return ks, err
		},
		// The lab's MACs are discovered over the iDRACs, as on a new
		// rack: the store has them.
		MACs:   l.store.MACs,
		Images: images,
		Events: l.sink,
	}
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pxelinuxConfig answers pxelinux's config requests as the appliance
// does: the node's config, for its netboot state, to the node's address;
// not found for other names; the local-boot default.
func (l *lab) pxelinuxConfig(_ context.Context, remote netip.Addr, p string) ([]byte, error) {
	name := strings.TrimPrefix(p, "pxelinux.cfg/")
	if name == "default" {
		return bootcfg.PXELinuxDefault(l.plan), nil
	}
	raw, ok := strings.CutPrefix(name, "01-")
	mac, err := bootcfg.ParseMAC(raw)
	if !ok || err != nil || mac.String() != nodeMAC {
		return nil, fs.ErrNotExist
	}
	n, _ := l.plan.Node(nodeName)
	on, err := l.store.Netboot(n)
	if err != nil {
		return nil, err
	}
	st := bootcfg.State{Netboot: on && remote == n.PXE.Address}
	if st.Netboot {
		tok, err := l.keys.Token(n.Name)
		if err != nil {
			return nil, err
		}
		st.Token = provision.NewSecret(tok)
	}
	return bootcfg.PXELinux(l.plan, n, st)
}
