package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

// scrape reads /metrics from a real loopback server and parses it.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value returns the value of the series of fam with the labels, or -1.
func value(fams map[string]*dto.MetricFamily, fam string, labels map[string]string) float64 {
	f, ok := fams[fam]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !cmp.Equal(got, labels, cmpopts.EquateEmpty()) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// paperDHCP serves the paper site's DHCP with compute01's MAC known.
func paperDHCP(t *testing.T) *dhcp.Server {
	t.Helper()
	plan := sitetest.Plan(t, "paper", map[string]map[string]string{"compute01": {"em1": "02:00:00:00:40:01"}})
	return &dhcp.Server{Plan: func() *provision.Plan { return plan }, Events: func(provision.Event) {}}
}

// TestDHCPPackets: the packet counters change as the DHCP server answers
// real captured DISCOVERs (udhcpc and dhclient, compute01's MAC).
func TestDHCPPackets(t *testing.T) {
	s := paperDHCP(t)
	m := New(Config{DHCP: &s.Counters})
	offers := map[string]string{"type": "offer", "outcome": "sent"}
	received := map[string]string{"type": "any", "outcome": "received"}
	before := scrape(t, m)
	if got := value(before, "provision_dhcp_packets_total", offers); got != 0 {
		t.Fatalf("offers before any request: %v", got)
	}
	paths, _ := filepath.Glob(filepath.Join("..", "dhcp", "testdata", "packets", "*.bin"))
	if len(paths) == 0 {
		t.Fatal("no captured packets in ../dhcp/testdata/packets")
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := s.HandlePacket(data, netip.MustParseAddrPort("0.0.0.0:68"), false); !ok {
			t.Fatalf("%s: no reply", p)
		}
	}
	if _, _, ok := s.HandlePacket([]byte("not dhcp"), netip.MustParseAddrPort("0.0.0.0:68"), false); ok {
		t.Fatal("garbage answered")
	}
	after := scrape(t, m)
	n := float64(len(paths))
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{{offers, n}, {received, n + 1}, {map[string]string{"type": "any", "outcome": "malformed"}, 1}} {
		if got := value(after, "provision_dhcp_packets_total", c.labels); got != c.want {
			t.Errorf("provision_dhcp_packets_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
}

// TestEvents: TFTP transfers, installs and profiles are folded from
// node events.
func TestEvents(t *testing.T) {
	m := New(Config{})
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, e := range []provision.Event{
		{Node: "compute05", Source: "tftp", Kind: "transfer", Time: t0, Attrs: map[string]string{"bytes": "1000", "duration": "250ms"}},
		{Node: "compute05", Source: "tftp", Kind: "transfer", Time: t0, Attrs: map[string]string{"bytes": "24", "duration": "1ms"}},
		{Source: "tftp", Kind: "not-found", Time: t0},
		{Node: "compute05", Source: "http", Kind: "kickstart", Time: t0},
		{Node: "compute05", Source: "http", Kind: "kickstart", Time: t0.Add(time.Minute)}, // fetched again: the first counts
		{Node: "compute05", Source: "http", Kind: "post-start", Time: t0.Add(9 * time.Minute)},
		{Node: "compute05", Source: "http", Kind: "installed", Time: t0.Add(10 * time.Minute)},
		{Node: "compute05", Source: "ssh", Kind: "ssh-up", Time: t0.Add(12 * time.Minute)},
		{Node: "compute05", Source: "profile", Kind: "applied", Time: t0.Add(14 * time.Minute)},
		{Node: "compute06", Source: "http", Kind: "kickstart", Time: t0},
		{Node: "compute06", Source: "rollout", Kind: "begin", Time: t0.Add(time.Minute)}, // a new attempt
		{Node: "compute06", Source: "http", Kind: "installed", Time: t0.Add(2 * time.Minute)},
		{Node: "compute07", Source: "rollout", Kind: "failed", Time: t0}, // no install had started
		{Node: "compute08", Source: "http", Kind: "kickstart", Time: t0},
		{Node: "compute08", Source: "rollout", Kind: "failed", Time: t0.Add(time.Hour)}, // timed out installing
		{Node: "compute09", Source: "http", Kind: "failed", Time: t0},                   // the installer said so
	} {
		m.Observe(e)
	}
	fams := scrape(t, m)
	for _, c := range []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"provision_tftp_transfers_total", map[string]string{"outcome": "transfer"}, 2},
		{"provision_tftp_transfers_total", map[string]string{"outcome": "not-found"}, 1},
		{"provision_tftp_sent_bytes_total", nil, 1024},
		{"provision_tftp_transfer_duration_seconds", nil, 2},
		{"provision_installs_total", map[string]string{"outcome": "installed"}, 2},
		{"provision_installs_total", map[string]string{"outcome": "failed"}, 2},
		{"provision_install_duration_seconds", nil, 1}, // compute06's attempt has no kickstart of its own
		{"provision_profile_duration_seconds", map[string]string{"outcome": "applied"}, 1},
		{"provision_events_total", map[string]string{"source": "http", "kind": "kickstart"}, 4},
	} {
		if got := value(fams, c.fam, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
	h := fams["provision_install_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() != 600 {
		t.Errorf("install took %vs, want 600", h.GetSampleSum())
	}
	p := fams["provision_profile_duration_seconds"].GetMetric()[0].GetHistogram()
	if p.GetSampleSum() != 120 {
		t.Errorf("profile took %vs, want 120", p.GetSampleSum())
	}
}

// TestNodes: every state has a series, zero included.
func TestNodes(t *testing.T) {
	m := New(Config{Statuses: func() map[string]provision.Status {
		return map[string]provision.Status{"a": {State: provision.StateReady}, "b": {State: provision.StateReady},
			"c": {State: provision.StateFailed}}
	}})
	fams := scrape(t, m)
	if n := len(fams["provision_nodes"].GetMetric()); n != len(provision.States()) {
		t.Errorf("%d provision_nodes series, want one per state (%d)", n, len(provision.States()))
	}
	for state, want := range map[string]float64{"ready": 2, "failed": 1, "new": 0} {
		if got := value(fams, "provision_nodes", map[string]string{"state": state}); got != want {
			t.Errorf("provision_nodes{state=%q} = %v, want %v", state, got, want)
		}
	}
}

type fakeBMC struct{ err error }

func (f fakeBMC) Discover(context.Context, *provision.NodePlan) (map[string]string, error) {
	return nil, f.err
}
func (f fakeBMC) PXEOnce(context.Context, *provision.NodePlan) error    { return f.err }
func (f fakeBMC) PowerCycle(context.Context, *provision.NodePlan) error { return f.err }

// TestBMC: calls are counted and timed by operation and outcome.
func TestBMC(t *testing.T) {
	m := New(Config{})
	n := &provision.NodePlan{Name: "compute05"}
	ok, bad := m.InstrumentBMC(fakeBMC{}), m.InstrumentBMC(fakeBMC{err: errors.New("refused")})
	_ = ok.PXEOnce(t.Context(), n)
	_ = ok.PowerCycle(t.Context(), n)
	_ = bad.PowerCycle(t.Context(), n)
	_, _ = ok.Discover(t.Context(), n)
	fams := scrape(t, m)
	for _, c := range []struct {
		op, outcome string
		want        float64
	}{{"pxe", "ok", 1}, {"power-cycle", "ok", 1}, {"power-cycle", "error", 1}, {"discover", "ok", 1}} {
		l := map[string]string{"op": c.op, "outcome": c.outcome}
		if got := value(fams, "provision_bmc_calls_total", l); got != c.want {
			t.Errorf("provision_bmc_calls_total%v = %v, want %v", l, got, c.want)
		}
		if got := value(fams, "provision_bmc_call_duration_seconds", l); got != c.want {
			t.Errorf("provision_bmc_call_duration_seconds%v has %v samples, want %v", l, got, c.want)
		}
	}
}

// TestLint: every metric follows Prometheus' naming conventions.
func TestLint(t *testing.T) {
	s := paperDHCP(t)
	m := New(Config{DHCP: &s.Counters, Statuses: func() map[string]provision.Status { return nil }})
	m.Observe(provision.Event{Node: "n", Source: "tftp", Kind: "transfer", Attrs: map[string]string{"bytes": "1", "duration": "1ms"}})
	_ = m.InstrumentBMC(fakeBMC{}).PXEOnce(t.Context(), &provision.NodePlan{})
	m.Middleware(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "provision_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
