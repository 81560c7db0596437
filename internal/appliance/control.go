package appliance

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/provision/provision/internal/api"
	"github.com/provision/provision/internal/metrics"
	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/internal/webui"
	"github.com/provision/provision/provision"
)

// Tuning is how a rollout runs: the CLI's flags, sent to a running
// appliance with the request.
type Tuning struct {
	Limits   rollout.Limits    `json:"limits"`
	Timeouts rollout.Deadlines `json:"timeouts"`
	Retries  int               `json:"retries"`
}

// Engine returns a rollout engine acting through this appliance.
func (a *Appliance) Engine(t Tuning) *rollout.Engine { return a.engine(t, a.bmc) }

// engine returns a rollout engine acting on the iDRACs through b (the
// appliance's driver, or the same counted by the metrics).
func (a *Appliance) engine(t Tuning, b rollout.BMC) *rollout.Engine {
	e := &rollout.Engine{Tracker: a.Tracker, BMC: b, Netboot: a.Netboot, Discovered: a.Discovered, Holds: &a.holds,
		Limits: t.Limits, Timeout: t.Timeouts, Retries: t.Retries, Log: a.log.With("part", "rollout")}
	if !a.cfg.NoHandoff {
		e.Handoff = a.handoff()
	}
	e.InstalledProbe = a.probeInstalled
	if a.cfg.LabDir != "" {
		e.ProbeEvery = time.Second
	}
	return e
}

// RolloutRequest asks a running appliance for a rollout.
type RolloutRequest struct {
	Nodes []string `json:"nodes,omitempty"`
	Roles []string `json:"roles,omitempty"`
	// Reinstall installs ready nodes again (role, rebuild).
	Reinstall bool `json:"reinstall,omitempty"`
	// Forget forgets every selected node's state first (rebuild).
	Forget bool `json:"forget,omitempty"`
	// Force skips the quorum guardrail.
	Force  bool   `json:"force,omitempty"`
	Tuning Tuning `json:"tuning"`
}

// StreamLine is one line of a rollout's response stream (JSON lines): an
// update while it runs, the results at the end, or an error.
type StreamLine struct {
	Update  *tracker.Update  `json:"update,omitempty"`
	Results []rollout.Result `json:"results,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// Control is the operator API of a running appliance, under /api/v1/:
// reads are open, every change needs the bearer token kept in the state
// directory.
type Control struct {
	A     *Appliance
	Token string
	// Ctx is the server's context: rollouts run under it, not under the
	// request's, so an operator who disconnects leaves them running.
	Ctx context.Context
	// Metrics, when set, are served at /metrics and count the iDRAC
	// calls of rollouts and API actions.
	Metrics *metrics.Metrics
}

// APIFile and TokenFile say where a running appliance's API is.
const (
	APIFile   = "api.json"
	TokenFile = "api.token"
)

// APIRecord is what serve writes to STATE/api.json.
type APIRecord struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// ControlToken returns the API token, made (mode 0600) on first use.
func (a *Appliance) ControlToken() (string, error) {
	p := a.stateFile(TokenFile)
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// Handler serves the control API, the REST API of internal/api, the web
// page at / and, with Metrics, /metrics.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", c.status)
	mux.HandleFunc("POST /api/v1/rollouts", c.rollout)
	a := c.A
	(&api.Server{Plan: a.Plan, Tracker: a.Tracker, Events: a.Store.Events, NetbootOf: a.Store.Netboot,
		SetNetboot: a.NetbootByOperator, BMC: c.bmc(), Discovered: a.Discovered, Authorized: c.authorized,
		Log: a.log.With("part", "api")}).Register(mux)
	page, err := webui.New(a.Plan, a.Tracker.All, a.log.With("part", "webui"))
	if err != nil {
		a.log.Error("web page: not served", "err", err)
	} else {
		page.Register(mux)
	}
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics.Handler())
	}
	return mux
}

// bmc is the iDRAC driver, counted by the metrics when there are some.
func (c *Control) bmc() rollout.BMC {
	if c.Metrics == nil {
		return c.A.bmc
	}
	return c.Metrics.InstrumentBMC(c.A.bmc)
}

func (c *Control) status(w http.ResponseWriter, _ *http.Request) {
	plan := c.A.Plan()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(provision.SortedStatuses(plan, c.A.Tracker.All()))
}

func (c *Control) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && c.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Token)) == 1
}

// rollout runs a rollout and streams its progress as JSON lines.
func (c *Control) rollout(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		http.Error(w, "a bearer token is needed (STATE/"+TokenFile+")", http.StatusUnauthorized)
		return
	}
	var req RolloutRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	plan := c.A.Plan()
	nodes, err := provision.SelectRollout(plan, req.Roles, req.Nodes)
	if err == nil && req.Reinstall && !req.Force && !req.Forget {
		err = provision.CheckQuorum(plan, c.A.Tracker.All(), req.Nodes)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a rollout streams for as long as it runs
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	send := func(l StreamLine) {
		_ = enc.Encode(l)
		_ = rc.Flush()
	}
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	updates := c.A.Tracker.Subscribe(ctx, 1024)
	done := make(chan []rollout.Result, 1)
	// The rollout runs under the server's context; this goroutine ends
	// with it.
	go func() { done <- c.A.runRollout(c.Ctx, nodes, req, c.bmc()) }()
	for {
		select {
		case u, ok := <-updates:
			if ok {
				send(StreamLine{Update: &u})
			}
		case res := <-done:
			send(StreamLine{Results: res})
			return
		case <-r.Context().Done():
			return // the rollout goes on
		}
	}
}

// RunRollout forgets the nodes' states when asked, then runs the rollout.
func (a *Appliance) RunRollout(ctx context.Context, nodes []*provision.NodePlan, req RolloutRequest) []rollout.Result {
	return a.runRollout(ctx, nodes, req, a.bmc)
}

func (a *Appliance) runRollout(ctx context.Context, nodes []*provision.NodePlan, req RolloutRequest, b rollout.BMC) []rollout.Result {
	if req.Forget {
		for _, n := range nodes {
			if a.Tracker.Status(n.Name).State.Busy() {
				return []rollout.Result{{Node: n.Name, State: a.Tracker.Status(n.Name).State,
					Reason: fmt.Sprintf("node %s is busy: wait for it before a rebuild", n.Name)}}
			}
		}
		for _, n := range nodes {
			a.Tracker.Record(provision.Event{Node: n.Name, Source: provision.SourceOperator, Kind: provision.KindForget, Msg: "rebuild"})
		}
	}
	return a.engine(req.Tuning, b).Run(ctx, nodes, rollout.Options{Reinstall: req.Reinstall})
}

// EnableControl mounts the control API, the web page and the metrics on
// the servers' HTTP server and records where it is (STATE/api.json) for
// the CLI; the returned function removes the record. The metrics follow
// the tracker until ctx ends.
func (a *Appliance) EnableControl(ctx context.Context, s *Servers) (func(), error) {
	tok, err := a.ControlToken()
	if err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	mcfg := metrics.Config{Statuses: a.Tracker.All}
	if s.DHCP != nil {
		mcfg.DHCP = &s.DHCP.Counters
	}
	m := metrics.New(mcfg)
	m.FollowTracker(ctx, a.Tracker)
	h := (&Control{A: a, Token: tok, Ctx: ctx, Metrics: m}).Handler()
	s.HTTP.Control = h
	s.HTTP.Operator = h
	s.HTTP.Middleware = m.Middleware
	s.HTTP.Observe = m.ObserveHTTP
	rec := APIRecord{URL: "http://" + s.HTTP.Addr, PID: os.Getpid()}
	data, _ := json.Marshal(rec)
	p := a.stateFile(APIFile)
	if err := os.WriteFile(p, append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(p) }, nil
}
