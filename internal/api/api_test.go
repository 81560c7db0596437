package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/provision"
)

// TestRoutes: every route answers, reads without a token, actions only
// with the right one.
func TestRoutes(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, method, path, token, body string
		want                            int
		contains                        string
	}{
		{"plan", "GET", "/api/v1/plan", "", "", 200, `"name":"paper"`},
		{"nodes", "GET", "/api/v1/nodes", "", "", 200, `"node":"compute05"`},
		{"node", "GET", "/api/v1/nodes/compute05", "", "", 200, `"timeline":[]`},
		{"unknown node", "GET", "/api/v1/nodes/nosuch", "", "", 404, `no node \"nosuch\"`},
		{"timeline", "GET", "/api/v1/nodes/compute05/timeline", "", "", 200, `[]`},
		{"timeline bad limit", "GET", "/api/v1/nodes/compute05/timeline?limit=0", "", "", 400, "limit"},
		{"timeline bad since", "GET", "/api/v1/nodes/compute05/timeline?since=x", "", "", 400, "since"},
		{"events bad since", "GET", "/api/v1/events?since=-1", "", "", 400, "since"},
		{"events unknown node", "GET", "/api/v1/events?node=nosuch", "", "", 404, "nosuch"},
		{"netboot without token", "POST", "/api/v1/nodes/compute05/netboot", "", `{"on":false}`, 401, "bearer token"},
		{"netboot wrong token", "POST", "/api/v1/nodes/compute05/netboot", "wrong", `{"on":false}`, 401, "bearer token"},
		{"pxe without token", "POST", "/api/v1/nodes/compute05/pxe", "", "", 401, "bearer token"},
		{"power without token", "POST", "/api/v1/nodes/compute05/power", "", `{"action":"cycle"}`, 401, "bearer token"},
		{"discover without token", "POST", "/api/v1/nodes/compute05/discover", "", "", 401, "bearer token"},
		{"netboot unknown node", "POST", "/api/v1/nodes/nosuch/netboot", testToken, `{"on":true}`, 404, "nosuch"},
		{"netboot no body", "POST", "/api/v1/nodes/compute05/netboot", testToken, "", 400, `{\"on\": true}`},
		{"netboot unknown field", "POST", "/api/v1/nodes/compute05/netboot", testToken, `{"of":1}`, 400, "unknown field"},
		{"netboot on the appliance", "POST", "/api/v1/nodes/admin01/netboot", testToken, `{"on":true}`, 409, "appliance"},
		{"power bad action", "POST", "/api/v1/nodes/compute05/power", testToken, `{"action":"off"}`, 400, "cycle"},
		{"power the appliance", "POST", "/api/v1/nodes/admin01/power", testToken, `{"action":"cycle"}`, 409, "appliance"},
		{"netboot off", "POST", "/api/v1/nodes/compute05/netboot", testToken, `{"on":false}`, 200, `"netboot":false`},
		{"pxe", "POST", "/api/v1/nodes/compute05/pxe", testToken, "", 200, `"action":"pxe"`},
		{"power", "POST", "/api/v1/nodes/compute05/power", testToken, `{"action":"cycle"}`, 200, `"action":"power-cycle"`},
		{"discover", "POST", "/api/v1/nodes/compute06/discover", testToken, "", 200, `"em1":"02:00:00:00:99:01"`},
		{"wrong method", "DELETE", "/api/v1/nodes/compute05", testToken, "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.do(t, tt.method, tt.path, tt.token, tt.body)
			if code != tt.want || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s: %d %s; want %d with %q", tt.method, tt.path, code, body, tt.want, tt.contains)
			}
			if strings.Contains(body, testToken) {
				t.Errorf("the token is in the response: %s", body)
			}
		})
	}
	want := []string{"pxe compute05", "power compute05", "discover compute06"}
	if diff := cmp.Diff(want, h.BMC.Calls()); diff != "" {
		t.Errorf("BMC calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]string{"compute06": {"em1": "02:00:00:00:99:01"}}, h.MACs); diff != "" {
		t.Errorf("discovered MACs (-want +got):\n%s", diff)
	}
	n, _ := h.Plan.Node("compute05")
	if on, err := h.Store.Netboot(n); err != nil || on {
		t.Errorf("compute05's netboot after the API turned it off: %v %v", on, err)
	}
}

// TestBMCActionGuards: a node in the middle of an install is not power
// cycled unless forced, and an iDRAC's failure is a 502 that names it.
func TestBMCActionGuards(t *testing.T) {
	h := newHarness(t)
	h.Tracker.Record(provision.Event{Node: "compute07", Source: "bmc", Kind: provision.KindPXESet})
	code, body := h.do(t, "POST", "/api/v1/nodes/compute07/power", testToken, `{"action":"cycle"}`)
	if code != http.StatusConflict || !strings.Contains(body, "pxe-set") {
		t.Errorf("power cycle of a busy node: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/v1/nodes/compute07/power", testToken, `{"action":"cycle","force":true}`)
	if code != http.StatusOK {
		t.Errorf("forced power cycle: %d %s", code, body)
	}
	h.BMC.err = errors.New("bmc compute08 (https://10.3.0.18): power: connection refused")
	code, body = h.do(t, "POST", "/api/v1/nodes/compute08/pxe", testToken, "")
	if code != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Errorf("failing iDRAC: %d %s", code, body)
	}
}

// TestNodeDetail: a node's detail has its status, its events oldest first
// and its messages as log lines; limit keeps the last ones.
func TestNodeDetail(t *testing.T) {
	h := newHarness(t)
	evs := []provision.Event{
		{Node: "compute05", Source: "bmc", Kind: provision.KindPXESet, Msg: "one-time PXE set"},
		{Node: "compute05", Source: "bmc", Kind: provision.KindPower, Attrs: map[string]string{"action": "on"}},
		{Node: "compute06", Source: "dhcp", Kind: provision.KindLease, IP: "10.3.1.16"},
		{Node: "compute05", Source: "dhcp", Kind: provision.KindLease, IP: "10.3.1.15"},
	}
	for _, e := range evs {
		h.Tracker.Record(e)
	}
	var d NodeDetail
	h.getJSON(t, "/api/v1/nodes/compute05", &d)
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Source+"/"+e.Kind)
	}
	if diff := cmp.Diff([]string{"bmc/pxe-set", "bmc/power", "dhcp/lease"}, kinds); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if d.State != provision.StateDHCP || d.Rack == "" || d.Unit == 0 || !d.Netboot {
		t.Errorf("detail: %+v", d.Node)
	}
	if len(d.Log) != 1 || !strings.HasSuffix(d.Log[0], "bmc/pxe-set: one-time PXE set") {
		t.Errorf("log lines: %q", d.Log)
	}
	var last []provision.Event
	h.getJSON(t, "/api/v1/nodes/compute05/timeline?limit=1", &last)
	if len(last) != 1 || last[0].Kind != provision.KindLease {
		t.Errorf("timeline?limit=1: %+v", last)
	}
	var nodes []Node
	h.getJSON(t, "/api/v1/nodes", &nodes)
	if len(nodes) != len(h.Plan.Nodes) {
		t.Errorf("%d nodes listed, the plan has %d", len(nodes), len(h.Plan.Nodes))
	}
}

// TestEventsLive: an event recorded while a client listens reaches it
// with the status it left its node in.
func TestEventsLive(t *testing.T) {
	h := newHarness(t)
	c := openStream(t, h.URL+"/api/v1/events", nil)
	stored, err := h.Tracker.RecordErr(provision.Event{Node: "compute05", Source: "bmc", Kind: provision.KindPXESet})
	if err != nil {
		t.Fatal(err)
	}
	m := c.next(t, 10*time.Second)
	if m.Event != "update" || m.ID != strconv.FormatUint(stored.Seq, 10) || m.Data.Event.Node != "compute05" {
		t.Fatalf("got %+v", m)
	}
	if m.Data.Status == nil || m.Data.Status.State != provision.StatePXESet {
		t.Errorf("status: %+v", m.Data.Status)
	}
}

// TestEventsReplay: ?since and Last-Event-ID replay the stored events
// after SEQ, then go on live without repeating any; ?node keeps one
// node's.
func TestEventsReplay(t *testing.T) {
	// The three stored events have sequence numbers 1, 2, 3 in a new store.
	tests := []struct {
		name   string
		query  string
		header http.Header
		want   []uint64 // replayed, then the live one
	}{
		{"since", "?since=1", nil, []uint64{2, 3}},
		{"last-event-id", "", http.Header{"Last-Event-Id": {"2"}}, []uint64{3}},
		{"node", "?since=0&node=compute05", nil, []uint64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, n := range []string{"compute05", "compute06", "compute05"} {
				e, err := h.Tracker.RecordErr(provision.Event{Node: n, Source: "dhcp", Kind: "discovered"})
				if err != nil || e.Seq != uint64(i+1) {
					t.Fatalf("stored seq %d: %v", e.Seq, err)
				}
			}
			c := openStream(t, h.URL+"/api/v1/events"+tt.query, tt.header)
			var got []uint64
			for range tt.want {
				m := c.next(t, 10*time.Second)
				got = append(got, m.Data.Event.Seq)
				if m.Data.Status != nil {
					t.Errorf("a replayed event carries a status: %+v", m.Data)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("replayed (-want +got):\n%s", diff)
			}
			live, err := h.Tracker.RecordErr(provision.Event{Node: "compute05", Source: "dhcp", Kind: "discovered"})
			if err != nil {
				t.Fatal(err)
			}
			if m := c.next(t, 10*time.Second); m.Data.Event.Seq != live.Seq {
				t.Errorf("live event: got seq %d, want %d", m.Data.Event.Seq, live.Seq)
			}
		})
	}
}
