package profiles

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVPNClientConnects runs the rendered OpenVPN server and a client
// from ClientConfig in one throwaway network namespace whose loopback
// holds admin01's Internet address, and waits for the client to complete
// its TLS handshake and tunnel set-up: the PKI, the tls-crypt key and both
// configurations work together. No packet leaves the namespace.
func TestVPNClientConnects(t *testing.T) {
	need(t, true, "openvpn", "unshare", "ip", "bash")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	plan := loadSite(t, "paper")
	state := t.TempDir()
	in := realInputs(t, "paper")
	pki, err := OpenPKI(state, "paper", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in.VPN = pki.Server()
	root, _ := writeRoot(t, mustRenderer(t), plan, "admin01", in)
	cert, key, err := pki.Client("alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conf, err := ClientConfig(plan, pki.Server(), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(t.TempDir(), "alice.ovpn")
	if err := os.WriteFile(client, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	serverLog := filepath.Join(t.TempDir(), "server.log")
	script := `set -e
mount --bind ` + filepath.Join(root, "etc/openvpn/server") + ` /etc/openvpn/server
mkdir -p /run/openvpn-server
ip link set lo up
ip addr add 203.0.113.10/32 dev lo
openvpn --config /etc/openvpn/server/provision.conf >` + serverLog + ` 2>&1 &
srv=$!
openvpn --config ` + client + ` --dev tun9 &
cli=$!
trap 'kill $srv $cli 2>/dev/null; wait' EXIT TERM
wait $cli`
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "bash", "-c", script)
	// SIGTERM lets the script's trap stop both daemons.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var log []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "Initialization Sequence Completed") {
			t.Logf("client connected in %v", time.Since(start))
			return
		}
	}
	srv, _ := os.ReadFile(serverLog)
	t.Fatalf("the client did not connect:\n%s\nserver:\n%s", strings.Join(log, "\n"), srv)
}
