// Package proctest reads what benchmarks count of other processes from
// /proc: the CPU time a server used, its children. Linux only, as the
// benchmarks that use it.
package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTicks is the unit of /proc/PID/stat's times (USER_HZ, 100 on
// Linux for every architecture Go runs on there).
const clockTicks = 100

// stat returns the fields of /proc/PID/stat after the command name (so
// field 3, the state, is f[0]).
func stat(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces: count the
	// fields after it.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	return f, nil
}

// CPU is the CPU time (user and system, all threads) process pid has
// used so far; with children, that of the children it has waited for
// too (a forking server's per-request processes, once reaped).
func CPU(pid int, children bool) (time.Duration, error) {
	f, err := stat(pid)
	if err != nil {
		return 0, err
	}
	// utime, stime, cutime, cstime are fields 14-17.
	fields := f[11:13]
	if children {
		fields = f[11:15]
	}
	var ticks int64
	for _, s := range fields {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %q: %w", pid, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// Children lists the processes whose parent is pid.
func Children(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range stats {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		f, err := stat(child)
		if err != nil {
			continue // gone meanwhile
		}
		if f[1] == strconv.Itoa(pid) { // field 4, the parent
			out = append(out, child)
		}
	}
	return out, nil
}

// CPUGroup is a cgroup that counts the CPU time of the processes put in
// it and of every process they start, reaped or not (a forking server's
// per-request processes included). It needs root.
type CPUGroup struct {
	dir   string
	usage func() (time.Duration, error)
}

// NewCPUGroup makes a cgroup named name: under cgroup v1's cpuacct
// hierarchy when mounted, else under cgroup v2 (at /sys/fs/cgroup or
// /sys/fs/cgroup/unified).
func NewCPUGroup(name string) (*CPUGroup, error) {
	if st, err := os.Stat("/sys/fs/cgroup/cpuacct/cpuacct.usage"); err == nil && st.Mode().IsRegular() {
		dir := filepath.Join("/sys/fs/cgroup/cpuacct", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		return &CPUGroup{dir: dir, usage: func() (time.Duration, error) {
			data, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
			if err != nil {
				return 0, err
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return time.Duration(ns), err
		}}, nil
	}
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
			continue
		}
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		return &CPUGroup{dir: dir, usage: func() (time.Duration, error) {
			data, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
			if err != nil {
				return 0, err
			}
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					us, err := strconv.ParseInt(v, 10, 64)
					return time.Duration(us) * time.Microsecond, err
				}
			}
			return 0, fmt.Errorf("%s/cpu.stat has no usage_usec", dir)
		}}, nil
	}
	return nil, fmt.Errorf("no cgroup hierarchy counts CPU here")
}

// Add moves process pid into the group.
func (g *CPUGroup) Add(pid int) error {
	return os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// Usage is the CPU time the group's processes have used so far.
func (g *CPUGroup) Usage() (time.Duration, error) { return g.usage() }

// Counter returns Usage as a counter for a benchmark, which it fails on
// an error; what names the processes in the message.
func (g *CPUGroup) Counter(tb testing.TB, what string) func() time.Duration {
	return func() time.Duration {
		d, err := g.usage()
		if err != nil {
			tb.Fatalf("%s's CPU: %v", what, err)
		}
		return d
	}
}

// Remove deletes the group once its processes have ended: a process
// that has exited may stay in it a moment, so Remove tries for up to
// 5 s.
func (g *CPUGroup) Remove() error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		err := os.Remove(g.dir)
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("remove cgroup %s: %w", g.dir, err)
		}
	}
}
