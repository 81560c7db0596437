package webui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/provision/provision/internal/servetest"
	"github.com/provision/provision/provision"
)

// browser starts Debian's chromium headless with a fresh profile, or
// skips the test when it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make deps installs it): the browser test needs it")
	}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), chromedp.ExecPath(path), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		// Nothing leaves the machine: chromium still looked up Google's
		// hosts at start (clients2.google.com, update.googleapis.com,
		// accounts.google.com, seen with tcpdump during make test). No
		// name resolves, and any connection but one to loopback (the
		// test's server, by address) goes to a proxy port where nothing
		// listens.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1500, 1000))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// TestBrowser: in a real browser, the page lists every node of the paper
// site in its rack, an event recorded on the appliance shows up live
// (compute05 goes to dhcp), and clicking the node shows its timeline and
// log lines. A screenshot is kept in the test's artifact directory (go
// test -artifacts keeps it).
func TestBrowser(t *testing.T) {
	ap, _, url := servetest.Serve(t, "paper")
	ctx := browser(t)
	// The page's console: an exception or an error (a refused resource, a
	// CSP violation) fails the test.
	cctx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(cctx)
	consoleDone := make(chan []string, 1)
	go func() { // ends when stopConsole is called
		var bad []string
		for m, err := range messages {
			if err != nil {
				break
			}
			if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError {
				bad = append(bad, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
		consoleDone <- bad
	}()
	defer func() {
		stopConsole()
		for _, m := range <-consoleDone {
			t.Errorf("browser console: %s", m)
		}
	}()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#live.on"))); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	loaded := time.Since(start)
	// Again, the browser running: the page's own load time.
	start = time.Now()
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#live.on"))); err != nil {
		t.Fatalf("reload the page: %v", err)
	}
	reloaded := time.Since(start)
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".node")].map(e => e.dataset.node)`))
	if err != nil {
		t.Fatal(err)
	}
	plan := ap.Plan()
	if len(names) != len(plan.Nodes) || len(plan.Nodes) != 27 {
		t.Fatalf("the page lists %d nodes, the paper site has %d (27 expected): %v", len(names), len(plan.Nodes), names)
	}
	for _, n := range plan.Nodes {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+n.Name+" ") {
			t.Errorf("the page lacks %s", n.Name)
		}
	}

	// compute05 is powered on and gets its lease: the page follows.
	n05, _ := plan.Node("compute05")
	ip := n05.PXE.Address.String()
	recorded := time.Now()
	for _, e := range []provision.Event{
		{Node: "compute05", Source: provision.SourceBMC, Kind: provision.KindPXESet, Msg: "one-time PXE set"},
		{Node: "compute05", Source: provision.SourceBMC, Kind: provision.KindPower, Msg: "power on", Attrs: map[string]string{"action": "on"}},
		{Node: "compute05", Source: provision.SourceDHCP, Kind: provision.KindLease, IP: ip, MAC: "02:00:00:00:40:05"},
	} {
		ap.Tracker.Record(e)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#node-compute05.state-dhcp[data-state="dhcp"]`))); err != nil {
		t.Fatalf("compute05's lease did not show up live: %v", err)
	}
	live := time.Since(recorded)
	step, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#node-compute05 .step")))
	if err != nil || !strings.Contains(step, "dhcp lease "+ip) {
		t.Errorf("compute05's step: %q %v", step, err)
	}
	count, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#legend li[data-state="dhcp"] b`)))
	if err != nil || count != "1" {
		t.Errorf("legend count of dhcp: %q %v", count, err)
	}

	// Its timeline and log lines, and an event arriving while they show.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#node-compute05")), chromedp.WaitVisible(chromedp.CSS("#detail")),
		chromedp.WaitVisible(chromedp.CSS("#detail-timeline tbody tr:nth-child(3)"))); err != nil {
		t.Fatalf("compute05's detail: %v", err)
	}
	ap.Tracker.Record(provision.Event{Node: "compute05", Source: provision.SourceTFTP, Kind: provision.KindTransfer, IP: ip,
		Attrs: map[string]string{"file": "undionly.kpxe", "bytes": "71680", "duration": "40ms"}})
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#node-compute05[data-state="booting"]`)),
		chromedp.WaitVisible(chromedp.CSS("#detail-timeline tbody tr:nth-child(4)"))); err != nil {
		t.Fatalf("the transfer did not reach the open timeline: %v", err)
	}
	timeline, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail-timeline tbody")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pxe-set", "power", "lease", "undionly.kpxe"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, timeline)
		}
	}
	factsText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail-facts")))
	if err != nil || !strings.Contains(factsText, "tftp transfer undionly.kpxe") {
		t.Errorf("the open detail's step did not follow: %q %v", factsText, err)
	}
	logText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail-log")))
	if err != nil || !strings.Contains(logText, "bmc/pxe-set: one-time PXE set") {
		t.Errorf("log lines: %q %v", logText, err)
	}
	// compute06, netbooted by hand with no rollout, fetches its
	// kickstart: installing, and its detail says the install was started
	// by hand.
	ap.Tracker.Record(provision.Event{Node: "compute06", Source: provision.SourceHTTP, Kind: provision.KindKickstart})
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#node-compute06[data-state="installing"]`)),
		chromedp.Click(chromedp.CSS("#node-compute06")), chromedp.WaitVisible(chromedp.CSS("#detail"))); err != nil {
		t.Fatalf("compute06's install by hand: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("detail-facts").textContent.includes("started by hand")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		facts, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail-facts")))
		t.Errorf("compute06's detail does not say its install was started by hand: %v\n%s", err, facts)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.ArtifactDir(), "rack-view.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page loaded and live in %v (first load), %v (reload); recorded events shown in %v; screenshot %s (%d bytes)",
		loaded.Round(time.Millisecond), reloaded.Round(time.Millisecond), live.Round(time.Millisecond), out, len(shot))
}

// staleResync holds the answer to the page's first read of every node's
// status (its resync on connecting) until the test releases it, then
// sets __applied once the page has used it.
const staleResync = `(() => {
  const orig = window.fetch;
  let release;
  const held = new Promise((r) => { release = r; });
  window.__release = release;
  window.__fetched = false;
  window.__applied = false;
  window.fetch = async (url, opts) => {
    const r = await orig(url, opts);
    if (url !== "/api/v1/nodes" || window.__fetched) return r;
    window.__fetched = true;
    const body = await r.json();
    await held;
    setTimeout(() => { window.__applied = true; }, 0);
    return { ok: r.ok, status: r.status, json: async () => body };
  };
})();`

// TestBrowserStaleResync: the page's read of every node's status on
// connecting can be answered before an event and reach the page after
// it. That older answer must not undo what the live updates showed:
// here compute05, with no event before, is powered on and gets its lease
// while the answer that says it has no event is held.
func TestBrowserStaleResync(t *testing.T) {
	ap, _, url := servetest.Serve(t, "paper")
	ctx := browser(t)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: staleResync}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#live.on"))); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__fetched`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page did not read the nodes: %v", err)
	}
	n05, _ := ap.Plan().Node("compute05")
	for _, e := range []provision.Event{
		{Node: "compute05", Source: provision.SourceBMC, Kind: provision.KindPXESet, Msg: "one-time PXE set"},
		{Node: "compute05", Source: provision.SourceBMC, Kind: provision.KindPower, Msg: "power on", Attrs: map[string]string{"action": "on"}},
		{Node: "compute05", Source: provision.SourceDHCP, Kind: provision.KindLease, IP: n05.PXE.Address.String(), MAC: "02:00:00:00:40:05"},
	} {
		ap.Tracker.Record(e)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#node-compute05[data-state="dhcp"]`))); err != nil {
		t.Fatalf("compute05's lease did not show up live: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.__release()`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__applied`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page did not use the held answer: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("node-compute05").dataset.state`))
	if err != nil || state != "dhcp" {
		t.Errorf("compute05 after the older answer: %q %v, want dhcp", state, err)
	}
	count, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#legend li[data-state="dhcp"] b`)))
	if err != nil || count != "1" {
		t.Errorf("legend count of dhcp: %q %v", count, err)
	}
}
