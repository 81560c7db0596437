package dhcp

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
	"github.com/provision/provision/provision"
)

// The lab's addresses: the paper's management network with x = 1.
const (
	labServerIf   = "pv-srv"
	labClientIf   = "pv-cli"
	labServerAddr = "10.3.1.10/24" // admin01, the plan's appliance
	labWait       = 20 * time.Second
)

// lab is a server namespace and a client namespace joined by a veth pair,
// with the server answering on its end until the test ends.
type lab struct {
	server, client *netnstest.NS
	srv            *Server
	events         chan provision.Event
}

// newLab makes the namespaces; clientMAC is the client end's MAC and
// clientAddr its address ("" for none, as a booting node has).
func newLab(t testing.TB, clientMAC, clientAddr string) *lab {
	t.Helper()
	netnstest.Require(t)
	l := &lab{server: netnstest.New(t), client: netnstest.New(t), events: make(chan provision.Event, 1024)}
	netnstest.Link(t, l.server, labServerIf, labServerAddr, l.client, labClientIf, clientAddr, clientMAC)
	return l
}

// listenIn makes s open its sockets in ns on ifname.
func listenIn(s *Server, ns *netnstest.NS, ifname string) {
	s.Interface = ifname
	s.ListenPacket = func(ctx context.Context, port int) (net.PacketConn, error) {
		var c net.PacketConn
		err := ns.Do(func() error {
			var err error
			c, err = ListenUDP(ctx, ifname, port)
			return err
		})
		return c, err
	}
}

// serve starts a server for plan in the server namespace and returns once
// its sockets are open. It stops when the test ends.
func (l *lab) serve(t testing.TB, plan *provision.Plan, tweak func(*Server)) *Server {
	t.Helper()
	s := &Server{
		Plan:    func() *provision.Plan { return plan },
		Events:  func(e provision.Event) { l.events <- e },
		NoProbe: true,
	}
	if tweak != nil {
		tweak(s)
	}
	runServer(t, s, l.server, labServerIf)
	l.srv = s
	return s
}

// runServer serves s in ns on ifname until the test ends, and returns
// once its sockets are open.
func runServer(t testing.TB, s *Server, ns *netnstest.NS, ifname string) {
	t.Helper()
	listenIn(s, ns, ifname)
	up := make(chan struct{})
	s.listening = func() { close(up) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-up:
	case err := <-done:
		t.Fatalf("Serve ended before listening: %v", err)
	case <-time.After(labWait):
		t.Fatal("Serve did not start listening")
	}
}

// waitEvent waits for an event of kind.
func (l *lab) waitEvent(t testing.TB, kind string) provision.Event {
	t.Helper()
	deadline := time.After(labWait)
	for {
		select {
		case e := <-l.events:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", kind, labWait)
			return provision.Event{}
		}
	}
}

// clientScript writes a DHCP client hook script that, on reason, saves
// its environment to out and returns the script's path. With withFIFO it
// then writes the reason to the FIFO fifo, which the test reads to wait
// for a client that keeps running (dhclient) without sleeping.
func clientScript(t testing.TB, dir, reason string, withFIFO bool) (script, out, fifo string) {
	t.Helper()
	script, out, fifo = filepath.Join(dir, "hook"), filepath.Join(dir, "env"), filepath.Join(dir, "fifo")
	notify := ""
	if withFIFO {
		notify = "  echo \"$r\" > '" + fifo + "'\n"
		if err := exec.Command("mkfifo", fifo).Run(); err != nil {
			t.Fatalf("mkfifo: %v", err)
		}
	}
	body := "#!/bin/sh\n" +
		"r=\"${reason:-$1}\"\n" +
		"if [ \"$r\" = " + reason + " ]; then\n" +
		"  env > '" + out + ".tmp' && mv '" + out + ".tmp' '" + out + "'\n" +
		notify + "fi\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, out, fifo
}

// waitFIFO returns the first line written to fifo, or fails after
// labWait or when the client ends first.
func waitFIFO(t testing.TB, fifo string, c *client) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		// The read ends when the hook writes, or when the test's
		// cleanup opens the FIFO for writing to release it.
		f, err := os.Open(fifo)
		if err != nil {
			lines <- ""
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Scan()
		lines <- sc.Text()
	}()
	release := func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	select {
	case l := <-lines:
		return l
	case <-c.done:
		// The hook may have written just before the client ended.
		release()
		if l := <-lines; l != "" {
			return l
		}
		t.Fatalf("client ended before its hook ran: %v", c.err)
	case <-time.After(labWait):
		release()
		t.Fatalf("client hook did not run within %s", labWait)
	}
	return ""
}

// readEnv reads a saved environment as a map.
func readEnv(t testing.TB, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// clientsConn opens the client end's port 68 for n simulated clients,
// which share it. Its receive buffer stands for the n clients' own: it
// is sized to hold a reply for each (setQueue), or replies that n
// machines would each receive would be dropped at this one socket.
func (l *lab) clientsConn(t testing.TB, n int) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	err := l.client.Do(func() (err error) {
		conn, err = ListenUDP(context.Background(), labClientIf, ClientPort)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	setQueue(conn, 2*n)
	return conn
}

// client is a DHCP client process in a namespace.
type client struct {
	pid  int           // the process (ip netns exec execs it in place)
	done chan struct{} // closed when the process has ended
	err  error         // its exit, once done is closed
}

// startClient runs name in ns until the test ends.
func startClient(t testing.TB, ns *netnstest.NS, name string, args ...string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, name, args...)
	// The client's hook scripts are its children: end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	c := &client{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		if t.Failed() {
			t.Logf("%s output:\n%s", strings.Join(cmd.Args, " "), out.String())
		}
	})
	return c
}
