package simnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sshdPrivsepDir is where Debian's sshd chroots its unprivileged child; it
// refuses to start without it.
const sshdPrivsepDir = "/run/sshd"

func (n *node) sshdConfig() string { return filepath.Join(n.stateDir(), "sshd_config") }
func (n *node) pidFile() string    { return filepath.Join(n.stateDir(), "sshd.pid") }

// sshdConfigText is the node's sshd configuration: the installed host
// keys and root's authorized_keys, on the management address only, keys
// only. PAM is off (it would read the host's accounts' policy) and strict
// modes too (RootDir may sit under a world-writable /tmp).
func (n *node) sshdConfigText(listen netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# provision simnode %s: written at each boot\n", n.cfg.Node)
	fmt.Fprintf(&b, "ListenAddress %s\n", net.JoinHostPort(listen.String(), "22"))
	for _, k := range n.hostKeys() {
		fmt.Fprintf(&b, "HostKey %s\n", k)
	}
	fmt.Fprintf(&b, "PidFile %s\n", n.pidFile())
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", filepath.Join(n.cfg.RootDir, "root", ".ssh", "authorized_keys"))
	b.WriteString("PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n" +
		"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\nPrintMotd no\n" +
		"LogLevel INFO\n" +
		// The appliance uploads the role profile over SFTP, as to a real
		// EL6 node (whose sshd_config has the same line).
		"Subsystem sftp internal-sftp\n")
	return b.String()
}

// startSSHD runs sshd on listen:22 and returns once it accepts
// connections. stop ends it and every session it started.
func (n *node) startSSHD(ctx context.Context, listen netip.Addr) (stop func(), err error) {
	if len(n.hostKeys()) == 0 {
		return nil, errors.New("sshd: the kickstart installed no host key")
	}
	if err := os.MkdirAll(sshdPrivsepDir, 0o755); err != nil {
		return nil, fmt.Errorf("sshd: %w", err)
	}
	if err := os.WriteFile(n.sshdConfig(), []byte(n.sshdConfigText(listen)), 0o600); err != nil {
		return nil, fmt.Errorf("sshd config: %w", err)
	}
	args := []string{"-D", "-e", "-f", n.sshdConfig()}
	for _, o := range n.cfg.SSHDOptions {
		args = append(args, "-o", o)
	}
	// Not CommandContext: stop ends it, with its sessions, on power-off.
	cmd := exec.Command(n.cfg.SSHD, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logw := &lineLogger{log: func(l string) { n.cfg.Log.Debug("sshd", "line", l) }}
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sshd: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	// This goroutine ends when sshd exits: on stop, or on its own.
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			killTree(cmd.Process.Pid)
			<-done
			_ = os.Remove(n.pidFile())
			n.step(PhaseSystem, "sshd", "sshd stopped")
		})
	}
	addr := net.JoinHostPort(listen.String(), "22")
	if err := waitListening(ctx, addr, done, 10*time.Second); err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sshd: %w (%v): %s", err, waitErr, logw.tail())
	}
	n.step(PhaseSystem, "sshd", fmt.Sprintf("sshd (pid %d) listening on %s with %d host keys", cmd.Process.Pid, addr, len(n.hostKeys())))
	return stop, nil
}

// killTree kills pid and its descendants (sshd's per-connection children
// and their sessions, which sshd puts in sessions of their own). The tree
// is read before any is killed: once sshd dies its children are
// re-parented.
func killTree(pid int) {
	pids := append(descendants(pid), pid)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state, ppid, ...
		i := bytes.LastIndexByte(data, ')')
		f := strings.Fields(string(data[i+1:]))
		if i < 0 || len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// killStaleSSHD kills the sshd a crashed boot of this node left running:
// the pid of its pid file, when that process runs with the node's config.
func killStaleSSHD(pidFile, config string) error {
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sshd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err == nil && pid > 1 {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if bytes.Contains(cmdline, []byte(config)) {
			killTree(pid)
		}
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sshd pid file: %w", err)
	}
	return nil
}

// lineLogger passes a process's output on line by line, keeping the last
// lines for an error.
type lineLogger struct {
	mu   sync.Mutex
	buf  []byte
	last []string
	log  func(string)
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.log(line)
		l.last = append(l.last, line)
		if len(l.last) > 5 {
			l.last = l.last[1:]
		}
	}
	return len(p), nil
}

func (l *lineLogger) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(l.last, string(l.buf)), " | ")
}
