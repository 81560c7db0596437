package simnode

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// appNSEnv names the appliance's namespace to a test binary running in it.
const appNSEnv = "SIMNODE_TEST_APPNS"

// TestMain runs the tests inside a network namespace of their own, the
// appliance's side of the lab, when it can (root, iproute2): the TFTP
// library opens a socket per transfer from whatever thread runs it, so
// the appliance's servers need a process whose every thread is in that
// namespace, as `provision serve` has in the lab. The namespace is
// removed when the tests end. Without root the tests run as they are and
// the namespace tests skip.
func TestMain(m *testing.M) {
	if os.Getenv(appNSEnv) != "" || os.Getenv(helperEnv) != "" || os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		os.Exit(m.Run())
	}
	os.Exit(inAppNamespace())
}

// inAppNamespace re-runs the test binary, same arguments, in a new
// namespace and returns its exit code.
func inAppNamespace() int {
	b := make([]byte, 4)
	rand.Read(b)
	name := "pvsim-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "simnode tests: ip netns add %s: %v: %s\n", name, err, out)
		return 1
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "simnode tests: ip netns del %s: %v: %s\n", name, err, out)
		}
	}()
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "simnode tests: lo up in %s: %v: %s\n", name, err, out)
		return 1
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", name, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), appNSEnv+"="+name)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The tests die with this process (go test's timeout kills it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "simnode tests: run in %s: %v\n", name, err)
		return 1
	}
	return 0
}
