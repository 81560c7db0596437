package simnode

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
)

// helperEnv carries a node's config to the test binary re-executed in the
// node's namespace, as `provision lab boot` runs there in the lab.
const helperEnv = "SIMNODE_TEST_NODE"

// stepPrefix marks the helper's timeline lines on its stdout.
const stepPrefix = "simnode-step "

// nodeSpec is the part of Config a test sets, as JSON.
type nodeSpec struct {
	Node, MAC   string // default compute01 and its MAC
	RootDir     string
	PXE         bool
	BootMode    string
	InstallTime time.Duration
	Faults      Faults
}

// TestHelperProcess is not a test: it is the simulated node, run by
// startNode in the node's namespace. It boots until SIGTERM (power-off).
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("the simulated node process of the namespace tests, not a test of its own")
	}
	var spec nodeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if spec.Node == "" {
		spec.Node, spec.MAC = nodeName, nodeMAC
	}
	mac, _ := net.ParseMAC(spec.MAC)
	var mu sync.Mutex
	cfg := Config{
		Node: spec.Node, MAC: mac, Interface: nodeIf, BootMode: spec.BootMode,
		InstallTime: spec.InstallTime, Faults: spec.Faults, RootDir: spec.RootDir,
		DHCPTimeout: 500 * time.Millisecond,
		Log:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Progress: func(s Step) {
			b, _ := json.Marshal(s)
			mu.Lock()
			os.Stdout.Write([]byte(stepPrefix + string(b) + "\n"))
			mu.Unlock()
		},
	}
	if err := Boot(ctx, cfg, spec.PXE); err != nil {
		t.Fatal(err)
	}
}

// nodeProc is a running simulated node.
type nodeProc struct {
	cmd    *exec.Cmd
	steps  chan Step     // its timeline; closed when its stdout ends
	done   chan struct{} // closed when it has exited
	err    error         // its exit, once done is closed
	stderr *strings.Builder
	mu     sync.Mutex
	seen   []Step
}

// startNode powers the node on in ns; it is powered off (SIGTERM) when
// the test ends if it still runs.
func startNode(t testing.TB, ns *netnstest.NS, spec nodeSpec) *nodeProc {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd, steps: make(chan Step, 256), done: make(chan struct{}), stderr: &strings.Builder{}}
	cmd.Stderr = &lockedBuilder{mu: &p.mu, b: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader ends at the process's exit (its stdout closes); Wait
	// runs after it, as exec requires of a pipe's reader.
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			raw, ok := strings.CutPrefix(sc.Text(), stepPrefix)
			var s Step
			if ok && json.Unmarshal([]byte(raw), &s) == nil {
				p.steps <- s
				continue
			}
			// The test framework's own lines (a t.Fatal of the node).
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		close(p.steps)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.powerOff(t)
		if t.Failed() || testing.Verbose() {
			t.Logf("node timeline:\n%s\nnode log:\n%s", p.timeline(), p.log())
		}
	})
	return p
}

// waitStep waits for a step whose What is what and whose message holds
// text; a failed step of another kind, or the process ending, fails.
func (p *nodeProc) waitStep(t testing.TB, what, text string) Step {
	t.Helper()
	deadline := time.After(labWait)
	for {
		select {
		case s, ok := <-p.steps:
			if !ok {
				t.Fatalf("node ended before step %s %q", what, text)
			}
			p.mu.Lock()
			p.seen = append(p.seen, s)
			p.mu.Unlock()
			if s.What == what && strings.Contains(s.Msg, text) {
				return s
			}
		case <-deadline:
			t.Fatalf("no step %s %q within %s", what, text, labWait)
		}
	}
}

// powerOff sends SIGTERM and waits for a clean exit.
func (p *nodeProc) powerOff(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	// Drain the timeline so the process never blocks on its stdout.
	go func() {
		for s := range p.steps {
			p.mu.Lock()
			p.seen = append(p.seen, s)
			p.mu.Unlock()
		}
	}()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("node exited with %v", p.err)
		}
	case <-time.After(labWait):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("node did not power off within %s", labWait)
	}
}

func (p *nodeProc) timeline() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, s := range p.seen {
		b.WriteString(s.Elapsed.Round(time.Millisecond).String() + " " + s.Phase + " " + s.What + ": " + s.Msg + "\n")
	}
	return b.String()
}

func (p *nodeProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedBuilder struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l *lockedBuilder) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}
