package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// ip runs iproute2's ip with args, returning its error with its output.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs many ip commands in one process (ip -batch -), in order,
// in namespace ns ("" for this one), stopping at the first failure: a
// 27-node lab is some 300 commands.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %q -batch: %w: %s", ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// namespaces lists the network namespaces whose names start with prefix.
func namespaces(ctx context.Context, prefix string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// killNamespace kills every process in a namespace, then deletes it (its
// interfaces go with it).
func killNamespace(ctx context.Context, ns string) error {
	killPids(ctx, ns)
	return ip(ctx, "netns", "del", ns)
}

// killPids kills every process in a namespace.
func killPids(ctx context.Context, ns string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// powerOffLinks makes a node's namespace look like a server without
// power: every link the node made (bonds, VLANs, their stand-ins) gone,
// and its PXE NIC without addresses and down. The next boot brings it up.
func powerOffLinks(ctx context.Context, ns, pxeNIC string) error {
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-o", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("ip -n %s link show: %w", ns, err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name == "lo" || name == pxeNIC {
			continue
		}
		if err := ip(ctx, "-n", ns, "link", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	// A QEMU node's redirect to its (now deleted) tap goes too.
	_ = exec.CommandContext(ctx, "ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", pxeNIC, "ingress").Run()
	errs = append(errs, ip(ctx, "-n", ns, "addr", "flush", "dev", pxeNIC), ip(ctx, "-n", ns, "link", "set", pxeNIC, "down"))
	return errors.Join(errs...)
}
