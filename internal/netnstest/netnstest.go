// Package netnstest makes network namespaces joined by veth pairs for
// tests that run servers and real clients on real sockets, away from the
// host's own interfaces. Every namespace is removed when the test ends,
// whether it passed or not.
package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace made by a test.
type NS struct {
	Name string
}

// Require skips the test unless it runs as root with iproute2's ip, which
// namespaces and veth pairs need.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and veth pairs (run the tests as root, as make test and CI do)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to create network namespaces (make deps installs it)")
	}
}

// New makes an empty namespace, with its loopback up, removed at the end
// of the test.
func New(t testing.TB) *NS {
	t.Helper()
	Require(t)
	b := make([]byte, 4)
	rand.Read(b)
	ns := &NS{Name: "pvtest-" + hex.EncodeToString(b)}
	run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("remove namespace %s: %v: %s", ns.Name, err, out)
		}
	})
	run(t, "ip", "-n", ns.Name, "link", "set", "lo", "up")
	return ns
}

// Link joins two namespaces with a veth pair: interface ifA in a with
// address addrA (a prefix such as "10.3.1.10/24", or "" for none) and ifB
// in b with addrB, and macB as ifB's MAC when it is set. Both ends are up
// when Link returns.
func Link(t testing.TB, a *NS, ifA, addrA string, b *NS, ifB, addrB, macB string) {
	t.Helper()
	run(t, "ip", "link", "add", "name", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name)
	if macB != "" {
		run(t, "ip", "-n", b.Name, "link", "set", ifB, "address", macB)
	}
	for _, end := range []struct {
		ns         *NS
		ifname, ip string
	}{{a, ifA, addrA}, {b, ifB, addrB}} {
		if end.ip != "" {
			run(t, "ip", "-n", end.ns.Name, "addr", "add", end.ip, "dev", end.ifname)
		}
		run(t, "ip", "-n", end.ns.Name, "link", "set", end.ifname, "up")
	}
}

// Command is name run inside the namespace (ip netns exec), ended when
// ctx ends.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on an OS thread that has entered the namespace, then returns
// the thread to the namespace it came from. Sockets fn opens stay in the
// namespace, so a server can open its socket in Do and serve from any
// goroutine.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open own namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: %w", ns.Name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: enter: %w", ns.Name, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so Go ends it with this goroutine
		// instead of reusing a thread in the wrong namespace.
		return fmt.Errorf("netns %s: leave: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out.Bytes())
	}
}
