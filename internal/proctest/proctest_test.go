package proctest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestCPUAndChildren: a child that burns CPU is listed while it runs,
// and its time counts for its parent once waited for.
func TestCPUAndChildren(t *testing.T) {
	self := os.Getpid()
	before, err := CPU(self, true)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kids, err := Children(self)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("children of %d: %v, want %d among them", self, kids, cmd.Process.Pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	after, err := CPU(self, true)
	if err != nil {
		t.Fatal(err)
	}
	own, err := CPU(self, false)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 10*time.Millisecond || own > after {
		t.Errorf("with children %s -> %s (own %s): the child's CPU is not counted", before, after, own)
	}
	if _, err := CPU(-1, false); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// TestCPUGroup: the CPU of a process in the group and of the process it
// forks, which nobody in the group waits for, is counted.
func TestCPUGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for cgroups")
	}
	g, err := NewCPUGroup(fmt.Sprintf("proctest-%d", os.Getpid()))
	if err != nil {
		t.Skip(err)
	}
	// The parent backgrounds a busy child and exits at once: only the
	// group sees the child's CPU.
	cmd := exec.Command("sh", "-c", "read x; (i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done) &")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		// A cgroup made but not joinable (a container's delegation).
		stdin.Close()
		cmd.Wait()
		g.Remove()
		t.Skip(err)
	}
	stdin.Close()
	// The busy child holds stdout until it ends.
	if _, err := io.ReadAll(out); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	used, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if used < 10*time.Millisecond {
		t.Errorf("group used %s: the forked child's CPU is not counted", used)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}
