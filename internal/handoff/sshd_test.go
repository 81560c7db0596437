package handoff

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/provision"
)

// sshd is a real OpenSSH server the test runs on 127.0.0.1.
type sshd struct {
	addr string
	dir  string
}

// startSSHD starts /usr/sbin/sshd in the foreground on a free loopback
// port with the node's RSA host key from keys and an authorized_keys
// holding the appliance's key, as the kickstart installs them. It is
// stopped when the test ends.
func startSSHD(t *testing.T, keys *hostkeys.Store, node string) *sshd {
	t.Helper()
	bin, err := exec.LookPath("sshd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			t.Skipf("OpenSSH sshd not installed (make deps installs openssh-server): %v", err)
		}
	}
	// sshd refuses to start without its privilege separation directory.
	if _, err := os.Stat("/run/sshd"); err != nil {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Skipf("no /run/sshd and cannot make it: %v", err)
		}
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := writeSSHDConfig(t, keys, node, dir, port)
	cmd := exec.Command(bin, "-D", "-e", "-f", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The log reader ends when sshd exits (killed at cleanup).
	var (
		mu  sync.Mutex
		log []string
	)
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			log = append(log, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "Server listening") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("sshd log:\n%s", strings.Join(log, "\n"))
			mu.Unlock()
		}
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("sshd did not start:\n%s", strings.Join(log, "\n"))
	}
	return &sshd{addr: "127.0.0.1:" + port, dir: dir}
}

// writeSSHDConfig writes the node's host keys, an authorized_keys with
// the appliance's key and an sshd_config listening on 127.0.0.1:port into
// dir, and returns the config's path.
func writeSSHDConfig(t *testing.T, keys *hostkeys.Store, node, dir, port string) string {
	t.Helper()
	pairs, err := keys.HostKeys(node)
	if err != nil {
		t.Fatal(err)
	}
	var hostKeys []string
	for _, p := range pairs {
		path := filepath.Join(dir, "ssh_host_"+p.Type+"_key")
		if err := os.WriteFile(path, p.Private, 0o600); err != nil {
			t.Fatal(err)
		}
		hostKeys = append(hostKeys, "HostKey "+path)
	}
	app, err := keys.Appliance()
	if err != nil {
		t.Fatal(err)
	}
	ak := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(ak, []byte(app.Public+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	cfg := strings.Join(append(hostKeys,
		"ListenAddress 127.0.0.1:"+port,
		"AuthorizedKeysFile "+ak,
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"UsePAM no", "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
	), "\n") + "\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// recorder is an EventSink that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []provision.Event
}

func (r *recorder) sink(e provision.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind != KindOutput {
			out = append(out, e.Source+"/"+e.Kind)
		}
	}
	return out
}

func (r *recorder) output() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == KindOutput {
			out = append(out, e.Attrs["stream"]+": "+e.Msg)
		}
	}
	return out
}

// bounded is a test context with a deadline.
func bounded(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// fmtSscan reads N from "... after N attempts".
func fmtSscan(msg string, n *int) (int, error) {
	i := strings.Index(msg, "after ")
	if i < 0 {
		return 0, fmt.Errorf("no attempt count in %q", msg)
	}
	return fmt.Sscan(msg[i+len("after "):], n)
}
