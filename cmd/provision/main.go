// Command provision is a PXE bare-metal provisioning appliance: it turns a
// rack of powered-off Dell servers into an OpenStack HA cloud.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := cpuProfile(os.Getenv("PROVISION_CPUPROFILE"))
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	endProfile()
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "provision:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

// cpuProfile writes a CPU profile of the whole run to path when it is set
// ($PROVISION_CPUPROFILE, for docs/BENCHMARKS.md). "%p" in path is the
// process id: a command the lab re-runs in its namespace inherits the
// variable, and each process needs a file of its own.
func cpuProfile(path string) (end func()) {
	if path == "" {
		return func() {}
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "provision: PROVISION_CPUPROFILE:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "provision: PROVISION_CPUPROFILE:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
