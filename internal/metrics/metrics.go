package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// Config is what the metrics read at scrape time.
type Config struct {
	// DHCP are the DHCP server's counters; nil when the appliance serves
	// no DHCP (then no DHCP series are exposed).
	DHCP *dhcp.Counters
	// Statuses returns every node's status (tracker.All).
	Statuses func() map[string]provision.Status
}

// Metrics are the appliance's Prometheus metrics. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	events        *prometheus.CounterVec
	tftpTransfers *prometheus.CounterVec
	tftpBytes     prometheus.Counter
	tftpSeconds   prometheus.Histogram
	httpRequests  *prometheus.CounterVec
	httpSeconds   *prometheus.HistogramVec
	bmcCalls      *prometheus.CounterVec
	bmcSeconds    *prometheus.HistogramVec
	installs      *prometheus.CounterVec
	installSecs   prometheus.Histogram
	profileSecs   *prometheus.HistogramVec

	mu     sync.Mutex
	starts map[startKey]time.Time // when a node's install or profile began
}

type startKey struct{ node, what string }

// New makes the metrics and registers them, with the Go runtime's and the
// process's collectors, in a registry of their own.
func New(cfg Config) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		starts: map[startKey]time.Time{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "provision_events_total",
			Help: "Node events recorded, by source and kind."}, []string{"source", "kind"}),
		tftpTransfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "provision_tftp_transfers_total",
			Help: "TFTP read requests by outcome (transfer, transfer-failed, not-found, refused, probe)."}, []string{"outcome"}),
		tftpBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "provision_tftp_sent_bytes_total",
			Help: "Bytes sent by completed TFTP transfers."}),
		tftpSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "provision_tftp_transfer_duration_seconds",
			Help: "Duration of completed TFTP transfers.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 8)}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "provision_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "code"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "provision_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern (streams count until they end).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"route"}),
		bmcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "provision_bmc_calls_total",
			Help: "iDRAC operations by operation (discover, pxe, power-cycle) and outcome (ok, error)."}, []string{"op", "outcome"}),
		bmcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "provision_bmc_call_duration_seconds",
			Help: "Latency of iDRAC operations, power waits included.", Buckets: prometheus.ExponentialBuckets(0.05, 3, 8)},
			[]string{"op", "outcome"}),
		installs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "provision_installs_total",
			Help: "Installer runs that ended, by outcome (installed, failed)."}, []string{"outcome"}),
		installSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "provision_install_duration_seconds",
			Help:    "From a node's kickstart being served to its installed callback.",
			Buckets: []float64{60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400}}),
		profileSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "provision_profile_duration_seconds",
			Help:    "From a node's SSH answering to its role profile applied or failed, by outcome.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.events, m.tftpTransfers, m.tftpBytes, m.tftpSeconds, m.httpRequests, m.httpSeconds,
		m.bmcCalls, m.bmcSeconds, m.installs, m.installSecs, m.profileSecs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.DHCP != nil {
		m.reg.MustRegister(newDHCPCollector(cfg.DHCP))
	}
	if cfg.Statuses != nil {
		m.reg.MustRegister(newNodesCollector(cfg.Statuses))
	}
	return m
}

// Registry is where the metrics are registered (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Follow folds the tracker's updates into the metrics until the channel
// closes (when the subscription's context ends).
func (m *Metrics) Follow(updates <-chan tracker.Update) {
	for u := range updates {
		m.Observe(u.Event)
	}
}

// FollowTracker subscribes to t and folds its updates in a goroutine that
// ends with ctx.
func (m *Metrics) FollowTracker(ctx context.Context, t *tracker.Tracker) {
	updates := t.Subscribe(ctx, 4096)
	go m.Follow(updates)
}

// Observe counts one recorded event.
func (m *Metrics) Observe(e provision.Event) {
	m.events.WithLabelValues(e.Source, e.Kind).Inc()
	switch {
	case e.Source == provision.SourceTFTP:
		m.tftpTransfers.WithLabelValues(e.Kind).Inc()
		if e.Kind != provision.KindTransfer {
			return
		}
		if n, err := strconv.ParseUint(e.Attrs["bytes"], 10, 64); err == nil {
			m.tftpBytes.Add(float64(n))
		}
		if d, err := time.ParseDuration(e.Attrs["duration"]); err == nil {
			m.tftpSeconds.Observe(d.Seconds())
		}
	case e.Node == "":
	case e.Kind == provision.KindBegin || e.Kind == provision.KindForget:
		m.forget(e.Node)
	case e.Kind == provision.KindKickstart && e.Source == provision.SourceHTTP:
		m.start(e, "install")
	case e.Kind == provision.KindInstalled:
		// The installer's callback (internal/httpd records it as an http
		// event).
		m.installs.WithLabelValues("installed").Inc()
		if d, ok := m.since(e, "install"); ok {
			m.installSecs.Observe(d.Seconds())
		}
	case e.Kind == provision.KindFailed && e.Source != provision.SourceProfile:
		// An install ends failed when the installer says so, or when
		// the rollout gives up on a node whose installer had started.
		if _, started := m.since(e, "install"); started || e.Source == provision.SourceHTTP || e.Source == provision.SourceCallback {
			m.installs.WithLabelValues("failed").Inc()
		}
	case e.Kind == provision.KindSSHUp:
		m.start(e, "profile")
	case e.Source == provision.SourceProfile && (e.Kind == provision.KindApplied || e.Kind == provision.KindFailed):
		if d, ok := m.since(e, "profile"); ok {
			m.profileSecs.WithLabelValues(e.Kind).Observe(d.Seconds())
		}
	}
}

// start notes when a node's install or profile began; a second start (a
// kickstart fetched again) keeps the first.
func (m *Metrics) start(e provision.Event, what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := startKey{e.Node, what}
	if _, ok := m.starts[k]; !ok {
		m.starts[k] = e.Time
	}
}

// forget drops a node's starts: a new attempt times from its own start.
func (m *Metrics) forget(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.starts, startKey{node, "install"})
	delete(m.starts, startKey{node, "profile"})
}

// since returns the time from the node's start to e, forgetting the start.
func (m *Metrics) since(e provision.Event, what string) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := startKey{e.Node, what}
	t, ok := m.starts[k]
	delete(m.starts, k)
	if !ok || e.Time.Before(t) {
		return 0, false
	}
	return e.Time.Sub(t), true
}
