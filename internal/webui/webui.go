package webui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/provision/provision/provision"
)

// assets are the page's template, script and style sheet.
//
//go:embed assets
var assets embed.FS

// Page is the web page.
type Page struct {
	plan     func() *provision.Plan
	statuses func() map[string]provision.Status
	log      *slog.Logger
	tmpl     *template.Template
	static   fs.FS
}

// New parses the page's template. plan returns the current plan,
// statuses every node's status (tracker.All); a nil log logs nothing.
func New(plan func() *provision.Plan, statuses func() map[string]provision.Status, log *slog.Logger) (*Page, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("webui assets: %w", err)
	}
	tmpl, err := template.New("index.html").Option("missingkey=error").ParseFS(static, "index.html")
	if err != nil {
		return nil, fmt.Errorf("webui template: %w", err)
	}
	return &Page{plan: plan, statuses: statuses, log: log, tmpl: tmpl, static: static}, nil
}

// Register adds the page (GET /) and its script and style sheet (GET
// /ui/app.js, /ui/style.css) to mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.index)
	for _, name := range []string{"app.js", "style.css"} {
		mux.HandleFunc("GET /ui/"+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, p.static, name)
		})
	}
}

func (p *Page) index(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, Build(p.plan(), p.statuses())); err != nil {
		p.log.Error("render the web page", "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Everything the page needs comes from the appliance itself.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	_, _ = buf.WriteTo(w)
}

// View is what the page shows.
type View struct {
	Site   string
	Nodes  int
	Racks  []Rack
	States []string // every state, in install order
	Counts []StateCount
}

// StateCount is how many nodes are in a state.
type StateCount struct {
	State string
	Nodes int
}

// Rack is one rack's elevation, top unit first.
type Rack struct {
	Name  string
	Units []Unit
}

// Unit is one rack unit and the nodes in it (several for a chassis of
// sleds, none for an empty unit).
type Unit struct {
	Number int
	Nodes  []NodeView
}

// NodeView is one node on the page.
type NodeView struct {
	Name     string
	Roles    string
	State    string
	Step     string
	Progress int // percent of the install's states passed
	// Appliance marks the node the appliance runs on (never installed).
	Appliance bool
}

// Unracked names the group of nodes that have no rack in the site file.
const Unracked = "unracked"

// Build lays the plan's nodes out in their racks, with their states.
func Build(plan *provision.Plan, statuses map[string]provision.Status) View {
	v := View{Site: plan.Site.Name, Nodes: len(plan.Nodes)}
	count := map[provision.State]int{}
	byRack := map[string][]*provision.NodePlan{}
	for _, n := range plan.Nodes {
		r := n.Rack
		if r == "" {
			r = Unracked
		}
		byRack[r] = append(byRack[r], n)
		count[state(statuses, n.Name)]++
	}
	for _, s := range provision.States() {
		v.States = append(v.States, string(s))
		v.Counts = append(v.Counts, StateCount{State: string(s), Nodes: count[s]})
	}
	names := make([]string, 0, len(byRack))
	for r := range byRack {
		names = append(names, r)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == Unracked) != (b == Unracked) { // unracked nodes last
			if a == Unracked {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, r := range names {
		v.Racks = append(v.Racks, elevation(r, byRack[r], statuses))
	}
	return v
}

// elevation draws a rack from its highest used unit down to unit 1;
// unracked nodes (or nodes without a unit) get a row each.
func elevation(name string, nodes []*provision.NodePlan, statuses map[string]provision.Status) Rack {
	slices.SortFunc(nodes, func(a, b *provision.NodePlan) int {
		if a.Unit != b.Unit {
			return b.Unit - a.Unit
		}
		if a.Host != b.Host {
			return a.Host - b.Host
		}
		return strings.Compare(a.Name, b.Name)
	})
	rack := Rack{Name: name}
	top := 0
	for _, n := range nodes {
		top = max(top, n.Unit)
	}
	byUnit := map[int][]NodeView{}
	var loose []NodeView
	for _, n := range nodes {
		nv := nodeView(n, statuses[n.Name])
		if n.Unit > 0 {
			byUnit[n.Unit] = append(byUnit[n.Unit], nv)
		} else {
			loose = append(loose, nv)
		}
	}
	for u := top; u >= 1; u-- {
		rack.Units = append(rack.Units, Unit{Number: u, Nodes: byUnit[u]})
	}
	for _, nv := range loose {
		rack.Units = append(rack.Units, Unit{Nodes: []NodeView{nv}})
	}
	return rack
}

func nodeView(n *provision.NodePlan, st provision.Status) NodeView {
	if st.State == "" {
		st.State = provision.StateNew
	}
	return NodeView{Name: n.Name, Roles: strings.Join(n.Roles, ","), State: string(st.State), Step: Step(st),
		Progress: Progress(st.State), Appliance: n.Appliance}
}

func state(statuses map[string]provision.Status, node string) provision.State {
	if st, ok := statuses[node]; ok && st.State != "" {
		return st.State
	}
	return provision.StateNew
}

// Step says in a few words what a node last did: the event that moved
// it, or why it failed. app.js says the same of live updates.
func Step(st provision.Status) string {
	if st.State == provision.StateFailed && st.Reason != "" {
		return st.Reason
	}
	e := st.Last
	if e.Kind == "" {
		return ""
	}
	s := e.Source + " " + e.Kind
	if e.Msg != "" {
		s += ": " + e.Msg
	} else if f := e.Attrs["file"]; f != "" {
		s += " " + f
	} else if e.IP != "" {
		s += " " + e.IP
	}
	return s
}

// Progress is how far through an install a state is, in percent: ready
// is 100, failed 100 (the attempt is over).
func Progress(s provision.State) int {
	all := provision.States()
	steps := len(all) - 2 // new is 0, ready (the last before failed) is 100
	if s == provision.StateFailed {
		return 100
	}
	for i, x := range all {
		if x == s {
			return i * 100 / steps
		}
	}
	return 0
}
