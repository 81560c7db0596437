package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/provision/provision/provision"
)

// Flags is the part of the state store the server reads and writes.
// *store.Store implements it; SetFlag must be durable when it returns.
type Flags interface {
	// Netboot says whether the node's network boot installs it now.
	Netboot(node *provision.NodePlan) (bool, error)
	SetFlag(node, flag string, on bool) error
}

// Tokens gives and checks nodes' callback tokens. *hostkeys.Store
// implements it.
type Tokens interface {
	Token(node string) (string, error)
	Verify(node, tok string) bool
}

// ErrConfig is returned by Serve for a Server without a required field.
var ErrConfig = errors.New("server config lacks")

// Server timeouts. Install-tree responses get a longer write deadline,
// worked out from their size (see minRate).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 16 << 10
	ShutdownTimeout   = 10 * time.Second
)

// Server is the HTTP server. Fields are set before Serve and not changed
// after.
type Server struct {
	// Addr is the listen address, such as "10.3.1.10:80"; ignored when
	// Listener is set.
	Addr string
	// Listener, when set, is served instead of listening on Addr. Serve
	// closes it.
	Listener net.Listener
	// Plan returns the current plan; the caller swaps it on reload.
	Plan func() *provision.Plan
	// Flags holds the nodes' netboot flags.
	Flags Flags
	// Tokens checks the nodes' callback tokens.
	Tokens Tokens
	// MACs, when set, returns the MACs discovered over the BMCs, by node
	// and NIC (store.Store.MACs): a MAC the plan does not declare is
	// looked up there.
	MACs func() (map[string]map[string]string, error)
	// Kickstart renders a node's kickstart with its secrets.
	Kickstart func(ctx context.Context, plan *provision.Plan, node *provision.NodePlan) ([]byte, error)
	// Images is the root of the install trees served under /images/.
	// Nil serves none.
	Images *os.Root
	// LogDir keeps the installers' log uploads, as LogDir/<node>/<file>;
	// "" refuses them.
	LogDir string
	// Events receives an event per boot script, kickstart, callback and
	// refusal. Nil drops them.
	Events provision.EventSink
	// Log is the server's logger; nil logs nothing.
	Log *slog.Logger
	// Now is the clock of events; nil is time.Now.
	Now func() time.Time
	// Timeouts override the defaults above; zero fields keep them.
	Timeouts Timeouts
	// Control, when set, serves the rest of /api/v1/: the operator API
	// of a running appliance (status, rollouts), with its own
	// authentication.
	Control http.Handler
	// Operator, when set, serves what no other route takes: the
	// operator's web page at / and /metrics.
	Operator http.Handler
	// Middleware, when set, wraps every route (request metrics).
	Middleware func(http.Handler) http.Handler
	// Observe, when set, counts each request the install-tree lane
	// answers without net/http (lane.go), as Middleware counts the
	// others.
	Observe func(route, method string, code int, d time.Duration)

	noLane bool // every request to net/http (tests, benchmarks)

	filesOnce sync.Once
	files     *openFiles // Images' files kept open between requests
}

// Timeouts are the server's connection timeouts.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, ReadHeaderTimeout)
	def(&t.Read, ReadTimeout)
	def(&t.Write, WriteTimeout)
	def(&t.Idle, IdleTimeout)
	return t
}

// Serve serves until ctx ends, then shuts down, giving requests in flight
// ShutdownTimeout to finish. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	var missing []string
	for name, nilField := range map[string]bool{"Plan": s.Plan == nil, "Flags": s.Flags == nil,
		"Tokens": s.Tokens == nil, "Kickstart": s.Kickstart == nil} {
		if nilField {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("http: %w: %s", ErrConfig, strings.Join(missing, ", "))
	}
	ln := s.Listener
	if ln == nil {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("http: listen %s: %w", s.Addr, err)
		}
		ln = l
	}
	to := s.Timeouts.withDefaults()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: to.ReadHeader,
		ReadTimeout:       to.Read,
		WriteTimeout:      to.Write,
		IdleTimeout:       to.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	// The install-tree lane accepts the connections and hands net/http
	// those it does not keep (lane.go).
	var ln2 net.Listener = ln
	var fast *lane
	if s.Images != nil && !s.noLane {
		fast = newLane(s, ln, to)
		ln2 = fast
		fast.wg.Add(1)
		go fast.serve()
	}
	// The goroutine ends when Serve returns: on Shutdown below, or on a
	// listener error, which is returned.
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln2) }()
	s.logger().Info("http serving", "addr", ln.Addr().String())
	var serr error
	select {
	case serr = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if serr != nil {
		if fast != nil {
			fast.shutdown(sctx)
		}
		return fmt.Errorf("http: serve %s: %w", ln.Addr(), serr)
	}
	err := srv.Shutdown(sctx)
	if fast != nil {
		fast.shutdown(sctx)
	}
	if s.files != nil {
		s.files.close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("http: serve %s: %w", ln.Addr(), serr)
	}
	if err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /boot.ipxe", s.bootScript)
	mux.HandleFunc("GET /ks/{node}", s.kickstart)
	mux.HandleFunc("GET /api/v1/nodes/{node}/kickstart", s.kickstart)
	mux.HandleFunc("POST /api/v1/nodes/{node}/events", s.callback)
	mux.HandleFunc("POST /api/v1/nodes/{node}/logs/{name}", s.uploadLog)
	mux.HandleFunc("GET /images/{path...}", s.images)
	if s.Control != nil {
		mux.Handle("/api/v1/", s.Control)
	}
	if s.Operator != nil {
		mux.Handle("/", s.Operator)
	}
	if s.Middleware != nil {
		return s.Middleware(mux)
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.Plan == nil || s.Plan() == nil {
		http.Error(w, "no plan loaded", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) emit(e provision.Event) {
	if s.Events == nil {
		return
	}
	if e.Time.IsZero() && s.Now != nil {
		e.Time = s.Now().UTC()
	}
	e.Source = "http"
	s.Events(e)
}

// peer is the address the request came from: the TCP peer, never a header.
func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
