package ndp

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/provision/provision/internal/netnstest"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

func TestAdvertisement(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:aa:bb:cc")
	b, err := Advertisement(mac)
	if err != nil {
		t.Fatal(err)
	}
	m, err := icmp.ParseMessage(58, b)
	if err != nil || m.Type != ipv6.ICMPTypeRouterAdvertisement {
		t.Fatalf("%v %v", m, err)
	}
	body := m.Body.(*icmp.RawBody).Data
	want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0xaa, 0xbb, 0xcc}
	if string(body) != string(want) {
		t.Errorf("body % x, want % x (no flags, lifetime 0, source link-layer option)", body, want)
	}
}

func TestSolicitationChecks(t *testing.T) {
	rs, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}).Marshal(nil)
	ra, _ := Advertisement(nil)
	for _, tt := range []struct {
		name string
		b    []byte
		hop  int
		want bool
	}{
		{"solicitation", rs, 255, true},
		{"forwarded (hop limit 254)", rs, 254, false},
		{"advertisement", ra, 255, false},
		{"short", rs[:6], 255, false},
	} {
		if got := isSolicitation(tt.b, tt.hop); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRdisc6 asks with ndisc6's rdisc6 (Debian) from a namespace on the
// other end of a veth: it must read an advertisement that offers no
// default route, no prefix, no managed or other configuration.
func TestRdisc6(t *testing.T) {
	rdisc6, err := exec.LookPath("rdisc6")
	if err != nil {
		t.Skip("rdisc6 not installed (Debian: ndisc6; make deps installs it)")
	}
	srv, cli := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, srv, "prov0", "", cli, "eth0", "", "")
	// Both ends need their IPv6 link-local address, which is tentative
	// for a moment (duplicate address detection).
	waitLinkLocal(t, srv, "prov0")
	waitLinkLocal(t, cli, "eth0")
	a := &Advertiser{Interface: "prov0"}
	if err := srv.Do(a.Listen); err != nil {
		t.Fatal(err)
	}
	answered := make(chan net.IP, 4)
	a.Answered = func(ip net.IP) { answered <- ip }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	out, err := cli.Command(t.Context(), rdisc6, "-1", "-w", "1000", "-r", "8", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("rdisc6: %v\n%s", err, out)
	}
	for _, want := range []string{"Stateful address conf.    :           No", "Stateful other conf.      :           No",
		"Router lifetime           :            0 (0x00000000) seconds"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "Prefix") {
		t.Errorf("the advertisement carries a prefix:\n%s", out)
	}
	// Answered is called after the advertisement is sent: rdisc6 may
	// have read it and exited first.
	select {
	case ip := <-answered:
		if !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
			t.Errorf("solicitation from %v", ip)
		}
	case <-time.After(10 * time.Second):
		t.Error("no solicitation was answered")
	}
}

// waitLinkLocal waits until dev in ns has a link-local IPv6 address that
// is no longer tentative.
func waitLinkLocal(t *testing.T, ns *netnstest.NS, dev string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, _ := exec.Command("ip", "-n", ns.Name, "-6", "-o", "addr", "show", "dev", dev, "scope", "link").Output()
		if strings.Contains(string(out), "fe80") && !strings.Contains(string(out), "tentative") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s in %s: no usable link-local address: %s", dev, ns.Name, out)
		case <-tick.C:
		}
	}
}

// FuzzIsSolicitation: any datagram from the network is taken or left,
// never a crash, and only a well-formed solicitation is taken.
func FuzzIsSolicitation(f *testing.F) {
	rs, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}).Marshal(nil)
	ra, _ := Advertisement(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	f.Add(rs, 255)
	f.Add(ra, 255)
	f.Add(rs[:3], 255)
	f.Fuzz(func(t *testing.T, b []byte, hop int) {
		if isSolicitation(b, hop) && (hop != 255 || len(b) < 8 || b[0] != 133 || b[1] != 0) {
			t.Fatalf("took % x (hop limit %d)", b, hop)
		}
	})
}
