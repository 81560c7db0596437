package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/internal/api"
	"github.com/provision/provision/internal/appliance"
	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/internal/rollout"
	"github.com/provision/provision/internal/tracker"
	"github.com/provision/provision/provision"
)

// controlClient talks to a running `provision serve` through its API.
type controlClient struct {
	url   string
	token string
	http  *http.Client
}

// errLabOutside refuses to call the API of a serve running in a lab from
// outside the lab: its address exists only in the lab's namespaces, and
// from here the request would leave the machine by the default route.
var errLabOutside = errors.New("provision serve runs in the lab on this state: its API is reachable only from the lab's appliance namespace")

// controlClient finds the API of the appliance running on this state.
// In a lab, only a process inside the lab's appliance namespace may call
// it (see intoLab).
func (a *app) controlClient() (*controlClient, error) {
	if rec, err := lab.Load(a.state); err == nil && a.getenv(labInsideEnv) != rec.Appliance {
		return nil, errLabOutside
	}
	var rec appliance.APIRecord
	data, err := os.ReadFile(filepath.Join(a.state, appliance.APIFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(a.state, appliance.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	return &controlClient{url: strings.TrimRight(rec.URL, "/"), token: strings.TrimSpace(string(tok)),
		http: &http.Client{Timeout: 0}}, nil
}

// nodes reads every node as the API shows it: status and netboot flag.
func (c *controlClient) nodes(ctx context.Context) (map[string]api.Node, error) {
	var list []api.Node
	if err := c.get(ctx, "/api/v1/nodes", &list); err != nil {
		return nil, err
	}
	out := map[string]api.Node{}
	for _, n := range list {
		out[n.Node] = n
	}
	return out, nil
}

// get decodes the JSON answer of a GET of path.
func (c *controlClient) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("provision serve at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("provision serve at %s: %s: %s", c.url, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("provision serve at %s: %s: %w", c.url, path, err)
	}
	return nil
}

// remoteRollout runs a rollout in the running appliance and follows it.
func (a *app) remoteRollout(ctx context.Context, c *controlClient, f *rolloutFlags, req appliance.RolloutRequest, verb string) error {
	fmt.Fprintf(a.stderr, "provision serve runs on this state: asking it, at %s\n", c.url)
	plan, err := a.loadPlan()
	if err != nil {
		return err
	}
	nodes, err := provision.SelectRollout(plan, req.Roles, req.Nodes)
	if err != nil {
		return err
	}
	all, err := c.nodes(ctx)
	if err != nil {
		return err
	}
	statusOf := func(n string) provision.Status { return all[n].Status }
	if ok, err := a.confirmRollout(f, plan, nodes, statusOf, req, verb); !ok {
		if f.dryRun && err == nil {
			site, _ := a.loadSite()
			return a.printActions(site, plan, nodes, statusOf, req)
		}
		return err
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/api/v1/rollouts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+c.token)
	hreq.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		return fmt.Errorf("provision serve at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("provision serve refused: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	updates := make(chan tracker.Update, 64)
	done := make(chan struct{})
	go func() { // ends when updates is closed below
		defer close(done)
		a.follow(updates, nodes)
	}()
	var results []rollout.Result
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l appliance.StreamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		switch {
		case l.Update != nil:
			updates <- *l.Update
		case l.Error != "":
			close(updates)
			<-done
			return errors.New(l.Error)
		case l.Results != nil:
			results = l.Results
		}
	}
	close(updates)
	<-done
	if results == nil {
		return fmt.Errorf("the stream from provision serve ended early (%v): the rollout goes on there; see provision status", sc.Err())
	}
	return a.summary(results, time.Since(start))
}

// post sends a JSON body to the running appliance's API with the token
// and returns its status and (the start of) its answer.
func (c *controlClient) post(ctx context.Context, path, body string) (int, []byte, error) {
	// A BMC action waits for the iDRAC: minutes at most, never forever.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("provision serve at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, bytes.TrimSpace(b), nil
}

// remoteNetboot sets nodes' netboot flags through the running appliance.
func (a *app) remoteNetboot(ctx context.Context, c *controlClient, nodes []*provision.NodePlan, on bool) error {
	for _, n := range nodes {
		code, b, err := c.post(ctx, "/api/v1/nodes/"+n.Name+"/netboot", fmt.Sprintf(`{"on": %v}`, on))
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("node %s: provision serve refused: %d: %s", n.Name, code, b)
		}
		fmt.Fprintf(a.stdout, "%s: netboot %s (through provision serve)\n", n.Name, onOff(on))
	}
	return nil
}

// remoteBMC runs a BMC verb through the running appliance's API, which
// offers one-time PXE, power cycle and MAC discovery.
func (a *app) remoteBMC(ctx context.Context, c *controlClient, f *bmcFlags, args []string, verb string) error {
	path := map[string]string{"pxe": "pxe", "discover": "discover", "power-cycle": "power"}[verb]
	if path == "" {
		return exitError{code: 1, msg: fmt.Sprintf("provision serve holds %s and its API has no %q: stop serve for this, or use pxe, discover or power cycle", a.state, strings.TrimSpace("bmc "+verb))}
	}
	if len(args) == 0 || f.all {
		return errors.New("through provision serve, name the nodes")
	}
	body := `{}`
	if path == "power" {
		body = `{"action": "cycle"}`
	}
	fmt.Fprintf(a.stderr, "provision serve runs on this state: asking it, at %s\n", c.url)
	failed := 0
	for _, node := range args {
		code, b, err := c.post(ctx, "/api/v1/nodes/"+node+"/"+path, body)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			failed++
			fmt.Fprintf(a.stderr, "%s: FAILED: %d: %s\n", node, code, b)
			continue
		}
		fmt.Fprintf(a.stdout, "%s: %s done (through provision serve)\n", node, verb)
	}
	if failed > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d iDRACs failed", failed, len(args))}
	}
	return nil
}
