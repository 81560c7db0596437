package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/servetest"
	"github.com/provision/provision/provision"
)

// TestAppliance: the operator surfaces as `provision serve` mounts them
// (EnableControl), on a paper-site appliance on loopback: the existing
// routes still answer, actions need the token of STATE/api.token, the
// event stream goes through the request metrics, and /metrics counts what
// happened.
func TestAppliance(t *testing.T) {
	_, state, base := servetest.Serve(t, "paper")
	tokData, err := os.ReadFile(filepath.Join(state, appliance.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokData))
	do := func(method, path, tok, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	// The stream is open before anything happens.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	lines := bufio.NewReader(stream.Body)
	for {
		l, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("stream preamble: %v", err)
		}
		if l == "\n" {
			break
		}
	}

	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/healthz", "", "", 200},
		{"GET", "/api/v1/status", "", "", 200},
		{"GET", "/", "", "", 200},
		{"GET", "/api/v1/nodes/compute05", "", "", 200},
		{"POST", "/api/v1/rollouts", "", `{"nodes":["compute05"]}`, 401},
		{"POST", "/api/v1/nodes/compute05/netboot", "", `{"on":false}`, 401},
		{"POST", "/api/v1/nodes/compute05/netboot", "not-the-token", `{"on":false}`, 401},
		{"POST", "/api/v1/nodes/compute05/netboot", token, `{"on":false}`, 200},
		{"POST", "/api/v1/nodes/compute05/events", "", `{}`, 403}, // the installer's callback: httpd's, refused to an address not the node's
	} {
		if code, body := do(c.method, c.path, c.token, c.body); code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, body)
		} else if strings.Contains(body, token) {
			t.Errorf("%s %s: the token is in the response", c.method, c.path)
		}
	}

	// An install-tree file, on a connection of its own as an installer
	// fetches it: the lane answers it (a connection that carried another
	// request is net/http's), and the metrics count it.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequestWithContext(t.Context(), method, base+"/images/"+servetest.TreeFile, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := map[string]string{"GET": servetest.TreeFileContent}[method]; resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s the tree file: %d %q", method, resp.StatusCode, body)
		}
	}

	// The netboot change reached the stream, with compute05's status.
	var got struct {
		Event  provision.Event
		Status *provision.Status
	}
	timer := time.AfterFunc(10*time.Second, func() { stream.Body.Close() })
	defer timer.Stop()
	for got.Event.Kind != "netboot-off" {
		l, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("no netboot-off event on the stream: %v", err)
		}
		if data, ok := strings.CutPrefix(l, "data: "); ok {
			if err := json.Unmarshal([]byte(data), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.Event.Node != "compute05" || got.Status == nil || got.Status.Node != "compute05" {
		t.Errorf("stream event: %+v", got)
	}
	// Recorded as the operator's, with what the flag was (the site's
	// netboot for a node never installed).
	if got.Event.Source != provision.SourceOperator || got.Event.Attrs["was"] != "on" || !strings.Contains(got.Event.Msg, "through the API") {
		t.Errorf("netboot event: %+v", got.Event)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"provision_http_requests_total", map[string]string{"route": "/api/v1/nodes/{node}/netboot", "method": "POST", "code": "401"}, 2},
		{"provision_http_requests_total", map[string]string{"route": "/api/v1/nodes/{node}/netboot", "method": "POST", "code": "200"}, 1},
		{"provision_http_requests_total", map[string]string{"route": "/healthz", "method": "GET", "code": "200"}, 1},
		{"provision_http_requests_total", map[string]string{"route": "/{$}", "method": "GET", "code": "200"}, 1},
		{"provision_http_requests_total", map[string]string{"route": "/images/{path...}", "method": "GET", "code": "200"}, 1},
		{"provision_http_requests_total", map[string]string{"route": "/images/{path...}", "method": "HEAD", "code": "200"}, 1},
		{"provision_nodes", map[string]string{"state": "new"}, 27},
	} {
		if got := find(fams[c.fam], c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
	if find(fams["provision_events_total"], map[string]string{"source": "operator", "kind": "netboot-off"}) != 1 {
		// The metrics follow the tracker asynchronously: wait for it.
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if time.Now().After(deadline) {
				t.Error("provision_events_total did not count the netboot-off event")
				break
			}
			r, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if strings.Contains(string(body), `provision_events_total{kind="netboot-off",source="operator"} 1`) {
				break
			}
		}
	}
}

// find returns the value of the family's series with exactly labels, or -1.
func find(f *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if !match {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}
