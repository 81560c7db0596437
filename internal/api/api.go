package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// Server is the operator API. Fields are set before Register and not
// changed after.
type Server struct {
	// Plan returns the current plan.
	Plan func() *provision.Plan
	// Tracker holds the nodes' states and streams their updates.
	Tracker *tracker.Tracker
	// Events reads the durable event log (store.Store.Events).
	Events func(store.Filter) ([]provision.Event, error)
	// NetbootOf says whether a node's next network boot installs it
	// (store.Store.Netboot).
	NetbootOf func(*provision.NodePlan) (bool, error)
	// SetNetboot turns a node's netboot on or off, durably, and records
	// the event (appliance.Appliance.Netboot).
	SetNetboot func(node string, on bool) error
	// BMC acts on nodes' iDRACs; nil answers the BMC actions with 503.
	BMC rollout.BMC
	// Discovered records the MACs a discovery read and replans
	// (appliance.Appliance.Discovered).
	Discovered func(ctx context.Context, node string, macs map[string]string) error
	// Authorized says whether a request carries the operator's token.
	// Nil refuses every action.
	Authorized func(*http.Request) bool
	// KeepAlive is how often an idle event stream gets a comment line,
	// so that proxies and browsers keep it open; default 15s.
	KeepAlive time.Duration
	// Log is the API's logger; nil logs nothing.
	Log *slog.Logger
}

// Timeline lengths: how many events a node's detail carries by default,
// at most, and how many of them make its log.
const (
	DefaultTimeline = 500
	MaxTimeline     = 10000
	LogLines        = 40
)

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/plan", s.plan)
	mux.HandleFunc("GET /api/v1/nodes", s.nodes)
	mux.HandleFunc("GET /api/v1/nodes/{node}", s.node)
	mux.HandleFunc("GET /api/v1/nodes/{node}/timeline", s.timeline)
	mux.HandleFunc("GET /api/v1/events", s.stream)
	mux.HandleFunc("POST /api/v1/nodes/{node}/netboot", s.authorized(s.netboot))
	mux.HandleFunc("POST /api/v1/nodes/{node}/pxe", s.authorized(s.pxe))
	mux.HandleFunc("POST /api/v1/nodes/{node}/power", s.authorized(s.power))
	mux.HandleFunc("POST /api/v1/nodes/{node}/discover", s.authorized(s.discover))
}

// Node is a node as the API shows it: its status and where it is.
type Node struct {
	provision.Status
	FQDN      string   `json:"fqdn"`
	Roles     []string `json:"roles"`
	Rack      string   `json:"rack,omitempty"`
	Unit      int      `json:"unit,omitempty"`
	Host      int      `json:"host,omitempty"`
	Stage     int      `json:"stage"`
	Address   string   `json:"address,omitempty"`
	Appliance bool     `json:"appliance,omitempty"`
	// Netboot says whether the node's next network boot installs it.
	Netboot bool `json:"netboot"`
}

// NodeDetail is one node with its timeline and its last log lines.
type NodeDetail struct {
	Node
	Timeline []provision.Event `json:"timeline"`
	Log      []string          `json:"log"`
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) plan(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Plan())
}

func (s *Server) nodes(w http.ResponseWriter, _ *http.Request) {
	plan := s.Plan()
	all := s.Tracker.All()
	out := make([]Node, 0, len(plan.Nodes))
	for _, st := range provision.SortedStatuses(plan, all) {
		n, ok := plan.Node(st.Node)
		if !ok {
			continue // events of a node the site no longer has
		}
		out = append(out, s.describe(n, st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) describe(n *provision.NodePlan, st provision.Status) Node {
	out := Node{Status: st, FQDN: n.FQDN, Roles: n.Roles, Rack: n.Rack, Unit: n.Unit, Host: n.Host,
		Stage: n.Stage, Appliance: n.Appliance}
	if n.PXE.Address.IsValid() {
		out.Address = n.PXE.Address.String()
	}
	if s.NetbootOf != nil {
		on, err := s.NetbootOf(n)
		if err != nil {
			s.logger().Error("netboot flag", "node", n.Name, "err", err)
		}
		out.Netboot = on
	}
	return out
}

// lookup finds the request's node, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*provision.NodePlan, bool) {
	name := r.PathValue("node")
	n, ok := s.Plan().Node(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no node %q in the site", name))
	}
	return n, ok
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	evs, ok := s.history(w, r, n.Name)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, NodeDetail{Node: s.describe(n, s.Tracker.Status(n.Name)), Timeline: evs, Log: logLines(evs, LogLines)})
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if evs, ok := s.history(w, r, n.Name); ok {
		writeJSON(w, http.StatusOK, evs)
	}
}

// history reads a node's last events (?limit=N, default DefaultTimeline),
// after ?since=SEQ when given, oldest first.
func (s *Server) history(w http.ResponseWriter, r *http.Request, node string) ([]provision.Event, bool) {
	limit, err := queryUint(r, "limit", DefaultTimeline)
	if err != nil || limit == 0 || limit > MaxTimeline {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", MaxTimeline))
		return nil, false
	}
	since, err := queryUint(r, "since", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, "since: want an event sequence number")
		return nil, false
	}
	evs, err := s.Events(store.Filter{Node: node, After: since})
	if err != nil {
		s.logger().Error("read events", "node", node, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the event log")
		return nil, false
	}
	if evs == nil {
		evs = []provision.Event{}
	}
	if len(evs) > int(limit) {
		evs = evs[len(evs)-int(limit):]
	}
	return evs, true
}

// logLines are the messages of a node's last events, as a log reads:
// installer progress, profile output, failures.
func logLines(evs []provision.Event, max int) []string {
	out := []string{}
	for i := len(evs) - 1; i >= 0 && len(out) < max; i-- {
		e := evs[i]
		if e.Msg == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s/%s: %s", e.Time.UTC().Format(time.TimeOnly), e.Source, e.Kind, e.Msg))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func queryUint(r *http.Request, key string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Error is the body of every refusal.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}
