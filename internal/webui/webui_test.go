package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/internal/sitetest"
	"github.com/provision/provision/provision"
)

// TestBuild: every node of the paper site is in its rack at its unit,
// racks are drawn top unit first, and the state counts add up.
func TestBuild(t *testing.T) {
	plan := sitetest.Plan(t, "paper", nil)
	st := map[string]provision.Status{"compute05": {Node: "compute05", State: provision.StateInstalling,
		Last: provision.Event{Source: "http", Kind: "kickstart"}}}
	v := Build(plan, st)
	placed := map[string]string{}
	for _, r := range v.Racks {
		prev := 1 << 30
		for _, u := range r.Units {
			if u.Number != 0 && u.Number >= prev {
				t.Errorf("rack %s: unit %d after %d", r.Name, u.Number, prev)
			}
			if u.Number != 0 {
				prev = u.Number
			}
			for _, n := range u.Nodes {
				placed[n.Name] = r.Name
				if n.Name == "compute05" && (n.State != "installing" || n.Step != "http kickstart") {
					t.Errorf("compute05: %+v", n)
				}
			}
		}
	}
	total := 0
	for _, c := range v.Counts {
		total += c.Nodes
	}
	if len(placed) != len(plan.Nodes) || total != len(plan.Nodes) || v.Nodes != len(plan.Nodes) {
		t.Errorf("%d nodes placed, %d counted, the plan has %d", len(placed), total, len(plan.Nodes))
	}
	for _, n := range plan.Nodes {
		want := n.Rack
		if want == "" {
			want = Unracked
		}
		if placed[n.Name] != want {
			t.Errorf("%s in rack %q, want %q", n.Name, placed[n.Name], want)
		}
	}
}

func TestStepAndProgress(t *testing.T) {
	tests := []struct {
		name     string
		st       provision.Status
		step     string
		progress int
	}{
		{"new", provision.Status{State: provision.StateNew}, "", 0},
		{"lease", provision.Status{State: provision.StateDHCP, Last: provision.Event{Source: "dhcp", Kind: "lease", IP: "10.3.1.15"}}, "dhcp lease 10.3.1.15", 40},
		{"file", provision.Status{State: provision.StateBooting, Last: provision.Event{Source: "tftp", Kind: "transfer", Attrs: map[string]string{"file": "undionly.kpxe"}}}, "tftp transfer undionly.kpxe", 50},
		{"message", provision.Status{State: provision.StateInstalling, Last: provision.Event{Source: "http", Kind: "post-start", Msg: "%post"}}, "http post-start: %post", 60},
		{"failed", provision.Status{State: provision.StateFailed, Reason: "no DHCP request from em1"}, "no DHCP request from em1", 100},
		{"ready", provision.Status{State: provision.StateReady, Last: provision.Event{Source: "profile", Kind: "applied"}}, "profile applied", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []any{Step(tt.st), Progress(tt.st.State)}
			if diff := cmp.Diff([]any{tt.step, tt.progress}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestServe: the page lists every node without JavaScript, allows no
// other origin, and its assets are embedded.
func TestServe(t *testing.T) {
	plan := sitetest.Plan(t, "paper", nil)
	p, err := New(func() *provision.Plan { return plan }, func() map[string]provision.Status { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET /: %s %v", resp.Status, resp.Header)
	}
	for _, n := range plan.Nodes {
		if !strings.Contains(body, `id="node-`+n.Name+`"`) {
			t.Errorf("the page lacks %s", n.Name)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the page loads something from elsewhere")
	}
	for path, ctype := range map[string]string{"/ui/app.js": "text/javascript", "/ui/style.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: %s %s (%d bytes)", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if resp, _ := get("/nosuch"); resp.StatusCode != 404 {
		t.Errorf("GET /nosuch: %s", resp.Status)
	}
}

// TestElevation: a chassis's sleds share their unit in host order, empty
// units are drawn, and nodes without a rack or a unit get rows of their
// own after the racks.
func TestElevation(t *testing.T) {
	plan := &provision.Plan{Site: provision.SitePlan{Name: "lab"}, Nodes: []*provision.NodePlan{
		{Name: "c1-2", Rack: "r1", Unit: 3, Host: 2},
		{Name: "c1-1", Rack: "r1", Unit: 3, Host: 1},
		{Name: "db", Rack: "r1", Unit: 1},
		{Name: "loose", Rack: "r1"},
		{Name: "laptop"},
	}}
	type row struct {
		Unit  int
		Nodes []string
	}
	got := map[string][]row{}
	var order []string
	for _, r := range Build(plan, nil).Racks {
		order = append(order, r.Name)
		for _, u := range r.Units {
			var names []string
			for _, n := range u.Nodes {
				names = append(names, n.Name)
			}
			got[r.Name] = append(got[r.Name], row{u.Number, names})
		}
	}
	want := map[string][]row{
		"r1":     {{3, []string{"c1-1", "c1-2"}}, {2, nil}, {1, []string{"db"}}, {0, []string{"loose"}}},
		Unracked: {{0, []string{"laptop"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("elevations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r1", Unracked}, order); diff != "" {
		t.Errorf("rack order (-want +got):\n%s", diff)
	}
}
