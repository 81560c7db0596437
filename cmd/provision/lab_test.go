package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provision/provision/internal/lab"
	"github.com/provision/provision/internal/store"
	"github.com/provision/provision/provision"
)

// labBinary builds provision for the lab tests, which run it as a real
// operator does: the lab re-executes it in namespaces.
func labBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the lab builds a whole site: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root for network namespaces (make test runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the lab needs iproute2's ip (make deps installs it)")
	}
	bin := filepath.Join(t.TempDir(), "provision")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// labRun runs the binary and returns its output and exit status.
func labRun(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // also in Cleanup
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return string(out), code
}

// labUp brings a site's lab up and takes it down at the end of the test.
func labUp(t *testing.T, bin, site, state string, extra ...string) {
	t.Helper()
	args := append([]string{"lab", "up", "--site", site, "--state", state, "--install-time", "2s"}, extra...)
	if out, code := labRun(t, bin, args...); code != 0 {
		t.Fatalf("lab up: exit %d\n%s", code, out)
	}
	t.Cleanup(func() {
		out, code := labRun(t, bin, "lab", "down", "--site", site, "--state", state)
		if code != 0 {
			t.Errorf("lab down: exit %d\n%s", code, out)
		}
		left, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(left), "pvl-") {
			t.Errorf("namespaces left after lab down:\n%s", left)
		}
	})
}

// installsSinceForget counts each node's installed events since its
// last forget (the start of the current build).
func installsSinceForget(t *testing.T, state string) map[string]int {
	t.Helper()
	st, err := store.Open(state, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		switch e.Kind {
		case provision.KindForget:
			n[e.Node] = 0
		case provision.KindInstalled:
			n[e.Node]++
		}
	}
	return n
}

// TestLabPaper builds the paper's site in the lab with compute07's iDRAC
// down: every other node ends ready, compute07 failed with the reason.
// Then `role compute05` reinstalls compute05 and nothing else, and a
// rebuild killed (SIGKILL) mid-way and run again installs no node twice.
func TestLabPaper(t *testing.T) {
	bin := labBinary(t)
	site, state := copySite(t, "paper"), t.TempDir()
	labUp(t, bin, site, state, "--idrac-down", "compute07")
	common := []string{"--site", site, "--state", state, "--yes", "--stagger", "0", "--concurrency", "16", "--retries", "1",
		"--dhcp-timeout", "30s", "--install-timeout", "30s"} // lab installs take 2 s

	out, code := labRun(t, bin, append([]string{"up"}, common...)...)
	if code != 1 || !strings.Contains(out, "26 nodes, 25 ready, 1 not") {
		t.Fatalf("up: exit %d\n%s", code, out)
	}
	if !regexpLine(out, `compute07\s+failed\s+2\s+.*discover MACs over the BMC`) {
		t.Errorf("compute07's failure is not explained:\n%s", out)
	}

	before := installsSinceForget(t, state)
	out, code = labRun(t, bin, append([]string{"role", "compute05"}, common...)...)
	if code != 0 || !strings.Contains(out, "1 nodes, 1 ready") {
		t.Fatalf("role compute05: exit %d\n%s", code, out)
	}
	after := installsSinceForget(t, state)
	for node, c := range after {
		want := before[node]
		if node == "compute05" {
			want++
		}
		if c != want {
			t.Errorf("%s installed %d times, want %d", node, c, want)
		}
	}

	// A rebuild, killed once some node installs.
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"rebuild"}, common...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), " installing ") && strings.Contains(sc.Text(), "controller01") {
			break
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the CLI and the appliance it runs in the lab
	_ = cmd.Wait()
	if !strings.Contains(seen.String(), "installing") {
		t.Fatalf("the rebuild never got to an install:\n%s", seen.String())
	}
	out, code = labRun(t, bin, append([]string{"up"}, common...)...)
	if code != 1 || !strings.Contains(out, "26 nodes, 25 ready, 1 not") {
		t.Fatalf("up after the kill: exit %d\n%s", code, out)
	}
	for node, c := range installsSinceForget(t, state) {
		if node != "compute07" && c != 1 {
			t.Errorf("%s installed %d times since the rebuild began, want once", node, c)
		}
	}
	labFailover(t, bin, site, state)
}

// holders says which load balancer namespaces hold addr.
func holders(t *testing.T, addr string) []string {
	t.Helper()
	var out []string
	for _, n := range []string{"loadbalance01", "loadbalance02"} {
		b, err := exec.Command("ip", "-n", "pvl-paper-"+n, "-o", "addr", "show", "up").Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), " "+addr+"/") {
			out = append(out, n)
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// labFailover: the load balancers run the rendered haproxy and keepalived;
// each VIP is held by exactly one; powering the internal VIP's holder off
// through its iDRAC moves the VIP to the other. The failover time, from
// the holder's keepalived gone to the VIP up on the peer, is logged.
func labFailover(t *testing.T, bin, site, state string) {
	vips := []string{"10.3.1.100", "10.3.1.200", "203.0.113.100"}
	for _, v := range vips {
		var h []string
		if !waitFor(30*time.Second, func() bool { h = holders(t, v); return len(h) == 1 }) {
			t.Fatalf("VIP %s held by %v, want exactly one load balancer", v, h)
		}
	}
	holder := holders(t, "10.3.1.100")[0]
	other := "loadbalance01"
	if holder == other {
		other = "loadbalance02"
	}
	keepalivedIn := func(node string) bool {
		b, _ := exec.Command("ip", "netns", "pids", "pvl-paper-"+node).Output()
		for _, pid := range strings.Fields(string(b)) {
			if cmd, err := os.ReadFile("/proc/" + pid + "/comm"); err == nil && strings.TrimSpace(string(cmd)) == "keepalived" {
				return true
			}
		}
		return false
	}
	if !keepalivedIn(holder) {
		t.Fatalf("no keepalived runs on %s", holder)
	}
	off := make(chan string, 1)
	asked := time.Now()
	go func() {
		out, _ := labRun(t, bin, "bmc", "power", "off", holder, "--site", site, "--state", state)
		off <- out
	}()
	if !waitFor(60*time.Second, func() bool { return !keepalivedIn(holder) }) {
		t.Fatalf("%s's keepalived still runs after power-off: %s", holder, <-off)
	}
	down := time.Now()
	if !waitFor(30*time.Second, func() bool { h := holders(t, "10.3.1.100"); return len(h) == 1 && h[0] == other }) {
		t.Fatalf("VIP 10.3.1.100 did not move to %s: held by %v", other, holders(t, "10.3.1.100"))
	}
	// keepalived's death is seen when its process is reaped, which may
	// lag: the request time bounds the failover from above.
	t.Logf("VIP 10.3.1.100 moved from %s to %s: %s after the power-off request (CLI, Redfish, 0.5 s simulated power-off), %s after its keepalived was seen gone (VRRPv2, advert_int 1)",
		holder, other, time.Since(asked).Round(10*time.Millisecond), time.Since(down).Round(10*time.Millisecond))
	<-off
}

// TestLabStagingRebuild rebuilds the staging site's 17 installable nodes
// in the lab.
func TestLabStagingRebuild(t *testing.T) {
	bin := labBinary(t)
	site, state := copySite(t, "staging"), t.TempDir()
	labUp(t, bin, site, state)
	out, code := labRun(t, bin, "rebuild", "--site", site, "--state", state, "--yes", "--stagger", "0", "--concurrency", "17")
	if code != 0 || !strings.Contains(out, "17 nodes, 17 ready, 0 not") {
		t.Fatalf("rebuild: exit %d\n%s", code, out)
	}
	out, _ = labRun(t, bin, "status", "--site", site, "--state", state)
	if !strings.Contains(out, "17 ready") {
		t.Fatalf("status:\n%s", out)
	}
}

// regexpLine reports whether some line of out matches pattern.
func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range strings.Split(out, "\n") {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

// TestLabFaults rehearses the slow-iDRAC and link-flap fault switches on
// a few staging nodes. compute01's iDRAC is slow (the default profile:
// logins and actions 2 s) and compute02's too slow for the appliance
// (logins 31 s, past its 30 s wait for an answer): with compute04 as the
// control, compute01 and compute04 end ready and compute02 failed with
// the reason. Then compute03's switch port flaps from its power-on while
// compute05 installs next to it: both end ready, and the node's NIC was
// seen losing its carrier.
func TestLabFaults(t *testing.T) {
	bin := labBinary(t)
	site, state := copySite(t, "staging"), t.TempDir()
	labUp(t, bin, site, state, "--idrac-slow", "compute01", "--idrac-slow", "compute02=31s", "--link-flap", "compute03")
	out, _ := labRun(t, bin, "lab", "status", "--site", site, "--state", state)
	for _, want := range []string{`compute01\s.*iDRAC slow \(2s\)`, `compute02\s.*iDRAC slow \(31s\)`,
		`compute03\s.*link flaps \(down 1s every 4s, 3 times\)`} {
		if !regexpLine(out, want) {
			t.Errorf("lab status has no line matching %q:\n%s", want, out)
		}
	}
	common := []string{"--site", site, "--state", state, "--yes", "--stagger", "0", "--dhcp-timeout", "30s", "--install-timeout", "30s"}

	out, code := labRun(t, bin, append([]string{"up", "compute01", "compute02", "compute04", "--retries", "0"}, common...)...)
	if code != 1 || !strings.Contains(out, "3 nodes, 2 ready, 1 not") {
		t.Fatalf("up with slow iDRACs: exit %d\n%s", code, out)
	}
	if !regexpLine(out, `compute02\s+failed\s+1\s+.*discover MACs over the BMC: .*SessionService/Sessions.*timeout awaiting response headers`) {
		t.Errorf("compute02's failure does not say its iDRAC timed out:\n%s", out)
	}

	// The flaps as the node's namespace sees them: its NIC up but without
	// a carrier while the switch port is down. It is sampled rather than
	// watched with ip monitor: a power-on kills every process in the
	// node's namespace, a monitor too.
	stop, noCarrier := make(chan struct{}), make(chan int, 1)
	// The sampler ends when stop is closed.
	go func() {
		n := 0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				noCarrier <- n
				return
			case <-tick.C:
			}
			b, _ := exec.Command("ip", "-n", "pvl-staging-compute03", "-o", "link", "show", "dev", "em1").Output()
			if strings.Contains(string(b), "NO-CARRIER") {
				n++
			}
		}
	}()
	out, code = labRun(t, bin, append([]string{"up", "compute03", "compute05", "--retries", "1"}, common...)...)
	close(stop)
	if code != 0 || !strings.Contains(out, "2 nodes, 2 ready, 0 not") {
		t.Fatalf("up with a flapping link: exit %d\n%s", code, out)
	}
	if n := <-noCarrier; n == 0 {
		t.Error("compute03's em1 never lost its carrier")
	}
	log, err := os.ReadFile(filepath.Join(state, "lab", "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), `msg="link down (fault)" node=compute03`); n == 0 {
		t.Errorf("the daemon never took compute03's port down:\n%s", log)
	}
	if strings.Contains(string(log), `msg="link down (fault)" node=compute05`) {
		t.Error("the daemon flapped compute05's port too")
	}
}

// TestLabInstallByHand: with only `provision serve` running on a staging
// lab, an operator reinstalls a ready node by hand from the host's shell
// (netboot on, bmc pxe, bmc power cycle: the CLI asks serve's API from
// inside the lab, the only place its address exists). The node is
// followed to installed, by hand, with none of its events refused; the
// next `up` hands it off without powering it again. status, asked from
// the host while serve runs, answers from inside the lab too.
func TestLabInstallByHand(t *testing.T) {
	bin := labBinary(t)
	site, state := copySite(t, "staging"), t.TempDir()
	labUp(t, bin, site, state)
	run := mustRun(t, bin, site, state)
	run("up", "--yes", "--stagger", "0", "compute01")
	// A ready node whose netboot is on says so (no serve: from the store).
	run("netboot", "on", "compute01")
	if out := run("status", "compute01"); !regexpLine(out, `^compute01\s+ready .*netboot on: its next network boot reinstalls it`) {
		t.Errorf("status of a ready node with netboot on:\n%s", out)
	}
	var rows []struct {
		Node    string
		Netboot bool
	}
	if err := json.Unmarshal([]byte(run("status", "--json", "compute01")), &rows); err != nil || len(rows) != 1 || !rows[0].Netboot {
		t.Errorf("status --json of a node with netboot on: %+v %v", rows, err)
	}
	run("netboot", "off", "compute01")
	if out := run("status", "compute01"); strings.Contains(out, "reinstalls it") {
		t.Errorf("status after netboot off:\n%s", out)
	}

	rec, err := lab.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	// serve straight in the appliance's namespace, so that SIGTERM
	// reaches it (from the host, serve re-executes itself there).
	serve := exec.CommandContext(t.Context(), "ip", "netns", "exec", rec.Appliance, bin, "serve", "--site", site, "--state", state)
	serve.Env = append(os.Environ(), labInsideEnv+"="+rec.Appliance)
	serveLog, stop := startServe(t, serve)
	status := func() provision.Status {
		t.Helper()
		var list []provision.Status
		if err := json.Unmarshal([]byte(run("status", "--json", "compute01")), &list); err != nil || len(list) != 1 {
			t.Fatalf("status --json: %v %v", list, err)
		}
		return list[0]
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				out, _ := os.ReadFile(serveLog)
				t.Fatalf("%s: not within a minute; serve's log:\n%s", what, out)
			}
			<-tick.C
		}
	}
	waitFor("serve's API", func() bool { return fileExists(filepath.Join(state, "api.json")) })

	if out := run("netboot", "on", "compute01"); !strings.Contains(out, "compute01: netboot on (through provision serve)") {
		t.Fatalf("netboot on:\n%s", out)
	}
	if out := run("status", "compute01"); !regexpLine(out, `^compute01\s+ready .*netboot on: its next network boot reinstalls it`) {
		t.Errorf("status through serve of a ready node with netboot on:\n%s", out)
	}
	run("bmc", "pxe", "compute01")
	run("bmc", "power", "cycle", "compute01")
	waitFor("compute01 installed", func() bool { return status().State == provision.StateInstalled })
	if st := status(); !st.ByHand || st.Attempt != 2 || st.Retries != 0 || st.Refused != 0 {
		t.Errorf("after the hand install: %+v, want by hand, attempt 2, no retry, nothing refused", st)
	}
	if out := run("status", "compute01"); !strings.Contains(out, "install started by hand") {
		t.Errorf("status does not say the install was started by hand:\n%s", out)
	}
	if out := run("up", "--yes", "compute01"); !strings.Contains(out, "1 nodes, 1 ready, 0 not") {
		t.Fatalf("up after the hand install:\n%s", out)
	}
	stop()
	if out, _ := os.ReadFile(serveLog); strings.Contains(string(out), "refused by the node state machine") {
		t.Errorf("serve refused events:\n%s", out)
	}
	if st := status(); st.State != provision.StateReady {
		t.Errorf("after up: %+v", st)
	}
	// The profile again, by hand, from the host: over SSH from inside
	// the lab, checked as the lab's rollouts check it (a simulated node
	// shares this machine's file system: its profile is never run).
	if out := run("profile", "compute01"); !strings.Contains(out, "compute01: lab: apply.sh uploaded and checked (bash -n), not run") {
		t.Errorf("profile compute01:\n%s", out)
	}
	if st := status(); st.State != provision.StateReady {
		t.Errorf("after profile: %+v", st)
	}
	if n := installsSinceForget(t, state)["compute01"]; n != 2 {
		t.Errorf("compute01 installed %d times, want 2 (up's, then the hand install)", n)
	}
	st, err := store.Open(state, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cycles, err := st.Events(store.Filter{Node: "compute01", Source: provision.SourceBMC, Kind: provision.KindPower})
	if err != nil {
		t.Fatal(err)
	}
	if len(cycles) != 2 {
		t.Errorf("compute01 powered %d times, want 2 (the first up's, the operator's): the handoff powered it", len(cycles))
	}
}

// TestControlClientOutsideLab: while a lab is up on the state, the API
// client is refused to a process outside the lab's appliance namespace
// (the API's address would be routed off the machine) and given to one
// inside it.
func TestControlClientOutsideLab(t *testing.T) {
	state := t.TempDir()
	for name, data := range map[string]string{
		"api.json":     `{"url":"http://10.3.2.10:80","pid":1}`,
		"api.token":    "token\n",
		"lab/lab.json": `{"site":"staging","appliance_namespace":"pvl-staging-app"}`,
	} {
		p := filepath.Join(state, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{}
	a := &app{state: state, getenv: func(k string) string { return env[k] }}
	if _, err := a.controlClient(); !errors.Is(err, errLabOutside) {
		t.Fatalf("outside the lab: %v, want %v", err, errLabOutside)
	}
	env[labInsideEnv] = "pvl-staging-app"
	c, err := a.controlClient()
	if err != nil || c.url != "http://10.3.2.10:80" || c.token != "token" {
		t.Fatalf("inside the lab: %+v %v", c, err)
	}
	if err := os.Remove(filepath.Join(state, "lab", "lab.json")); err != nil {
		t.Fatal(err)
	}
	delete(env, labInsideEnv)
	if _, err := a.controlClient(); err != nil {
		t.Fatalf("no lab: %v", err)
	}
}

// startServe starts a `provision serve` command with its output in a
// log file, and returns the file and a function that stops it with
// SIGTERM and checks it ended cleanly (also run at the end of the test).
func startServe(t *testing.T, serve *exec.Cmd) (log string, stop func()) {
	t.Helper()
	log = filepath.Join(t.TempDir(), "serve.log")
	logf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	serve.Stdout, serve.Stderr = logf, logf
	serve.Cancel = func() error { return serve.Process.Signal(syscall.SIGTERM) }
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = serve.Process.Signal(syscall.SIGTERM)
		if err := serve.Wait(); err != nil {
			out, _ := os.ReadFile(log)
			t.Errorf("serve: %v\n%s", err, out)
		}
	}
	t.Cleanup(stop)
	return log, stop
}

// mustRun returns a runner of the binary on site and state that fails
// the test on a non-zero exit and returns the output.
func mustRun(t *testing.T, bin, site, state string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, code := labRun(t, bin, append(args, "--site", site, "--state", state)...)
		if code != 0 {
			t.Fatalf("provision %v: exit %d\n%s", args, code, out)
		}
		return out
	}
}
