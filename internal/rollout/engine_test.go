package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// loadSite loads an example site (secrets copied 0600) and returns the
// site and its plan.
func loadSite(t *testing.T, name string) *provision.Site {
	t.Helper()
	site, probs := provision.Load(sitetest.Copy(t, name))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return site
}

// rack is a simulated rack for the engine: its BMC powers simulated
// nodes that go through DHCP, boot, kickstart and the installed callback
// by recording the events the appliance's servers would record.
type rack struct {
	t       *testing.T
	site    *provision.Site
	st      *store.Store
	tr      *tracker.Tracker
	install time.Duration // simulated install time

	mu       sync.Mutex
	macs     map[string]map[string]string
	netboot  map[string]bool
	dead     map[string]bool // iDRAC does not answer
	stall    map[string]bool // powers on but never DHCPs
	powered  map[string]int  // power cycles per node
	inflight int
	maxIn    int
	order    []string // nodes in power-on order
	wg       sync.WaitGroup
}

func newRack(t *testing.T, site *provision.Site, dir string) *rack {
	t.Helper()
	st, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &rack{t: t, site: site, st: st, install: 2 * time.Millisecond, macs: map[string]map[string]string{},
		netboot: map[string]bool{}, dead: map[string]bool{}, stall: map[string]bool{}, powered: map[string]int{}}
	stored, err := st.MACs()
	if err != nil {
		t.Fatal(err)
	}
	r.macs = stored
	plan, probs := provision.Build(site, provision.Options{MACs: r.macs})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	if r.tr, err = tracker.New(st, plan, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rack) close() {
	r.wg.Wait()
	r.st.Close()
}

func (r *rack) engine() *Engine {
	return &Engine{
		Tracker: r.tr, BMC: r, Retries: 1,
		Netboot: func(node string, on bool) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.netboot[node] = on
			return r.st.SetFlag(node, "netboot", on)
		},
		Discovered: func(_ context.Context, node string, macs map[string]string) error {
			if err := r.st.SetMACs(node, macs); err != nil {
				return err
			}
			r.mu.Lock()
			r.macs[node] = macs
			all := map[string]map[string]string{}
			for k, v := range r.macs {
				all[k] = v
			}
			r.mu.Unlock()
			plan, probs := provision.Build(r.site, provision.Options{MACs: all})
			if err := probs.Err(); err != nil {
				return err
			}
			r.tr.SetPlan(plan)
			return nil
		},
		Limits:  Limits{Global: 4, PerRack: 3},
		Timeout: Deadlines{DHCP: 10 * time.Second, Install: 20 * time.Second, Handoff: 10 * time.Second},
	}
}

func (r *rack) Discover(ctx context.Context, n *provision.NodePlan) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead[n.Name] {
		return nil, fmt.Errorf("dial tcp %s: i/o timeout", n.IDRAC.Endpoint)
	}
	r.tr.Record(provision.Event{Node: n.Name, Source: provision.SourceBMC, Kind: provision.KindDiscovered})
	return map[string]string{n.PXE.NIC: fmt.Sprintf("02:00:00:00:%02x:%02x", n.Host>>8, n.Host&0xff)}, nil
}

func (r *rack) PXEOnce(ctx context.Context, n *provision.NodePlan) error {
	r.tr.Record(provision.Event{Node: n.Name, Source: provision.SourceBMC, Kind: provision.KindPXESet})
	return nil
}

func (r *rack) PowerCycle(ctx context.Context, n *provision.NodePlan) error {
	r.mu.Lock()
	r.powered[n.Name]++
	r.order = append(r.order, n.Name)
	r.inflight++
	r.maxIn = max(r.maxIn, r.inflight)
	stall := r.stall[n.Name]
	r.mu.Unlock()
	r.tr.Record(provision.Event{Node: n.Name, Source: provision.SourceBMC, Kind: provision.KindPower, Attrs: map[string]string{"action": "cycle"}})
	if stall {
		r.mu.Lock()
		r.inflight--
		r.mu.Unlock()
		return nil
	}
	r.wg.Go(func() { r.boot(n) })
	return nil
}

// boot is the simulated node: firmware, iPXE, installer, callback.
func (r *rack) boot(n *provision.NodePlan) {
	rec := func(source, kind string) {
		r.tr.Record(provision.Event{Node: n.Name, Source: source, Kind: kind, MAC: n.PXE.MAC})
	}
	rec(provision.SourceDHCP, provision.KindLease)
	rec(provision.SourceTFTP, provision.KindTransfer)
	rec(provision.SourceHTTP, provision.KindBootScript)
	rec(provision.SourceHTTP, provision.KindKickstart)
	<-time.After(r.install) // the simulated install takes time
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	rec(provision.SourceCallback, provision.KindInstalled)
}

func (r *rack) count(source, kind string) map[string]int {
	evs, err := r.st.Events(store.Filter{Source: source, Kind: kind})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs {
		out[e.Node]++
	}
	return out
}

func TestRolloutPaperSite(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	nodes, err := provision.SelectRollout(r.tr.Plan(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := r.engine().Run(t.Context(), nodes, Options{})
	for _, x := range res {
		if x.State != provision.StateReady {
			t.Errorf("%s ended %s: %s", x.Node, x.State, x.Reason)
		}
	}
	if len(res) != 26 {
		t.Fatalf("%d results", len(res))
	}
	if r.maxIn > 4 {
		t.Errorf("%d nodes installing at once, limit 4", r.maxIn)
	}
	// The barrier stages came first, in order: load balancers, the first
	// controller, the other controllers.
	plan := r.tr.Plan()
	pos := map[string]int{}
	for i, n := range r.order {
		pos[n] = i
	}
	for _, n := range plan.Nodes {
		if n.Appliance {
			continue
		}
		for _, m := range plan.Nodes {
			if !m.Appliance && m.Stage < n.Stage && barrier[stageName(plan, m.Stage)] && pos[m.Name] > pos[n.Name] {
				t.Errorf("%s powered on before %s", n.Name, m.Name)
			}
		}
	}
	for node, c := range r.count(provision.SourceCallback, provision.KindInstalled) {
		if c != 1 {
			t.Errorf("%s installed %d times", node, c)
		}
	}
	// A second run finds every node ready and does nothing.
	before := len(r.order)
	for _, x := range r.engine().Run(t.Context(), nodes, Options{}) {
		if !x.Skipped {
			t.Errorf("%s not skipped: %+v", x.Node, x)
		}
	}
	if len(r.order) != before {
		t.Error("a second rollout powered nodes")
	}
}

// TestStalledAndDeadNodes: a node that never DHCPs is retried, then
// failed with the reason, its netboot turned off; a node whose iDRAC is
// down fails; the others finish. A failed controller blocks what
// depends on it.
func TestStalledAndDeadNodes(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	r.stall["compute03"] = true
	r.dead["compute07"] = true
	nodes, _ := provision.SelectRollout(r.tr.Plan(), nil, nil)
	e := r.engine()
	e.Timeout.DHCP = time.Second // the stalled node's; the others DHCP at once
	res := e.Run(t.Context(), nodes, Options{})
	for _, x := range res {
		switch x.Node {
		case "compute03":
			if x.State != provision.StateFailed || !strings.Contains(x.Reason, "no DHCP request from em1") || x.Attempts != 2 {
				t.Errorf("compute03: %+v", x)
			}
			if r.powered["compute03"] != 2 || r.netboot["compute03"] {
				t.Errorf("compute03 powered %d times, netboot %v", r.powered["compute03"], r.netboot["compute03"])
			}
		case "compute07":
			if x.State != provision.StateFailed || !strings.Contains(x.Reason, "i/o timeout") {
				t.Errorf("compute07: %+v", x)
			}
		default:
			if x.State != provision.StateReady {
				t.Errorf("%s: %+v", x.Node, x)
			}
		}
	}
}

func TestFailedControllerBlocksDependents(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	r.dead["controller01"] = true
	plan := r.tr.Plan()
	nodes, _ := provision.SelectRollout(plan, []string{"controller", "compute"}, nil)
	res := r.engine().Run(t.Context(), nodes, Options{})
	for _, x := range res {
		if x.Node == "controller01" {
			continue
		}
		if x.State != provision.StateFailed || !strings.Contains(x.Reason, "blocked: controller01") {
			t.Errorf("%s: %+v", x.Node, x)
		}
	}
	if r.powered["compute01"] != 0 {
		t.Error("a blocked node was powered")
	}
}

// TestResumeAfterCrash stops the appliance in the middle of a rollout and
// starts a new engine on the same state: every node ends ready, none is
// installed twice, and nodes past power-on are not powered again.
func TestResumeAfterCrash(t *testing.T) {
	site := loadSite(t, "paper")
	dir := t.TempDir()
	r := newRack(t, site, dir)
	r.install = 50 * time.Millisecond
	nodes, _ := provision.SelectRollout(r.tr.Plan(), nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		// "Kill" the appliance once some node is installing.
		r.tr.Wait(ctx, "controller02", func(s provision.Status) bool { return s.State == provision.StateInstalling })
		cancel()
	}()
	r.engine().Run(ctx, nodes, Options{})
	cancel()
	r.close() // the simulated nodes finish their installs meanwhile
	powered := r.powered

	r2 := newRack(t, site, dir)
	defer r2.close()
	mid := 0
	atCrash := r2.tr.All()
	for _, s := range atCrash {
		if s.State != provision.StateNew && s.State != provision.StateReady {
			mid++
		}
	}
	if mid == 0 {
		t.Fatal("no node was mid-install at the crash")
	}
	for _, x := range r2.engine().Run(t.Context(), nodes, Options{}) {
		if x.State != provision.StateReady {
			t.Errorf("%s ended %s: %s", x.Node, x.State, x.Reason)
		}
		// A node whose kickstart was fetched is not powered again; one
		// caught before that starts over.
		if atCrash[x.Node].State.Rank() >= provision.StateInstalling.Rank() && r2.powered[x.Node] > 0 {
			t.Errorf("%s (%s at the crash) powered again after the restart", x.Node, atCrash[x.Node].State)
		}
		_ = powered
	}
	for node, c := range r2.count(provision.SourceCallback, provision.KindInstalled) {
		if c != 1 {
			t.Errorf("%s installed %d times", node, c)
		}
	}
}

func TestConcurrentOperationsOnOneNode(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	r.install = 200 * time.Millisecond
	e := r.engine()
	n, _ := r.tr.Plan().Node("compute05")
	first := make(chan []Result)
	go func() { first <- e.Run(t.Context(), []*provision.NodePlan{n}, Options{Reinstall: true}) }()
	if _, err := r.tr.Wait(t.Context(), "compute05", func(s provision.Status) bool { return s.State == provision.StateInstalling }); err != nil {
		t.Fatal(err)
	}
	second := e.Run(t.Context(), []*provision.NodePlan{n}, Options{Reinstall: true})
	if !strings.Contains(second[0].Reason, ErrHeld.Error()) {
		t.Fatalf("second operation: %+v", second[0])
	}
	if got := (<-first)[0]; got.State != provision.StateReady {
		t.Fatalf("first operation: %+v", got)
	}
	if !errors.Is(e.hold("compute05"), nil) {
		t.Fatal("hold not released")
	}
}

// TestHandoffFailureDoesNotReinstall: a node whose profile fails is
// failed with the reason, and not installed again.
func TestHandoffFailureDoesNotReinstall(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	e := r.engine()
	e.Handoff = func(ctx context.Context, n *provision.NodePlan) error {
		r.tr.Record(provision.Event{Node: n.Name, Source: provision.SourceSSH, Kind: provision.KindSSHUp})
		return errors.New("apply.sh failed: exit status 3")
	}
	n, _ := r.tr.Plan().Node("compute05")
	res := e.Run(t.Context(), []*provision.NodePlan{n}, Options{})
	if res[0].State != provision.StateFailed || res[0].Attempts != 1 || !strings.Contains(res[0].Reason, "exit status 3") {
		t.Fatalf("%+v", res[0])
	}
	if r.powered["compute05"] != 1 {
		t.Fatalf("powered %d times", r.powered["compute05"])
	}
}

// TestInstallByHandHandedOff: nodes installed by hand while no rollout
// ran (netboot on, powered by the operator, provision serve alone), one
// that was ready, one new and still installing, are handed off by the
// next rollout without being powered or installed again; a ready node
// whose netboot went off before its kickstart is skipped.
func TestInstallByHandHandedOff(t *testing.T) {
	site := loadSite(t, "paper")
	r := newRack(t, site, t.TempDir())
	defer r.close()
	rec := func(node, source, kind string, attrs ...string) {
		e := provision.Event{Node: node, Source: source, Kind: kind, Attrs: map[string]string{}}
		for i := 0; i+1 < len(attrs); i += 2 {
			e.Attrs[attrs[i]] = attrs[i+1]
		}
		if _, err := r.tr.RecordErr(e); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(node string) {
		for _, k := range []struct{ source, kind string }{{provision.SourceRollout, provision.KindBegin},
			{provision.SourceBMC, provision.KindPXESet}, {provision.SourceDHCP, provision.KindLease},
			{provision.SourceHTTP, provision.KindKickstart}, {provision.SourceCallback, provision.KindInstalled},
			{provision.SourceSSH, provision.KindSSHUp}, {provision.SourceProfile, provision.KindApplied}} {
			rec(node, k.source, k.kind)
		}
	}
	handBoot := func(node string) {
		rec(node, provision.SourceOperator, "netboot-on")
		rec(node, provision.SourceDHCP, provision.KindLease)
		rec(node, provision.SourceHTTP, provision.KindBootScript, "netboot", "true")
	}
	ready("compute05")
	handBoot("compute05")
	rec("compute05", provision.SourceHTTP, provision.KindKickstart)
	rec("compute05", provision.SourceCallback, provision.KindInstalled)
	handBoot("compute06")
	rec("compute06", provision.SourceHTTP, provision.KindKickstart)
	ready("compute07")
	handBoot("compute07")
	rec("compute07", provision.SourceOperator, "netboot-off")
	rec("compute07", provision.SourceHTTP, provision.KindBootScript, "netboot", "false")
	for node, want := range map[string]provision.State{"compute05": provision.StateInstalled,
		"compute06": provision.StateInstalling, "compute07": provision.StateReady} {
		if st := r.tr.Status(node); st.State != want || st.Refused != 0 || st.ByHand != (want != provision.StateReady) {
			t.Fatalf("%s before the rollout: %+v, want %s", node, st, want)
		}
	}
	// compute06's installer is still running: it calls back once the
	// rollout is under way (compute05 handed off).
	go func() {
		if _, err := r.tr.Wait(t.Context(), "compute05", func(s provision.Status) bool { return s.State == provision.StateReady }); err == nil {
			if _, err := r.tr.RecordErr(provision.Event{Node: "compute06", Source: provision.SourceCallback, Kind: provision.KindInstalled}); err != nil {
				t.Error(err)
			}
		}
	}()
	var nodes []*provision.NodePlan
	for _, name := range []string{"compute05", "compute06", "compute07"} {
		n, _ := r.tr.Plan().Node(name)
		nodes = append(nodes, n)
	}
	for _, res := range r.engine().Run(t.Context(), nodes, Options{}) {
		if res.State != provision.StateReady || res.Skipped != (res.Node == "compute07") {
			t.Errorf("%s: %+v", res.Node, res)
		}
		if r.powered[res.Node] != 0 {
			t.Errorf("%s powered %d times", res.Node, r.powered[res.Node])
		}
	}
	if c := r.count(provision.SourceRollout, provision.KindBegin); c["compute05"] != 1 || c["compute06"] != 0 || c["compute07"] != 1 {
		t.Errorf("begin events %v: the rollout started an install", c)
	}
}
