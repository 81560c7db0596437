package dhcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/provision/provision/provision"
)

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s (make deps installs it): %v", name, err)
	}
}

// TestUdhcpcGetsReservation: busybox udhcpc, as a BIOS PXE ROM would
// (vendor class PXEClient, arch 0), gets compute01's reservation and the
// iPXE boot file over TFTP.
func TestUdhcpcGetsReservation(t *testing.T) {
	needTool(t, "udhcpc")
	plan := testPlan(t)
	l := newLab(t, macCompute01, "")
	l.serve(t, plan, nil)
	dir := t.TempDir()
	script, out, _ := clientScript(t, dir, "bound", false)
	// -q: quit once bound; -n: fail when no lease; the hook only saves.
	c := startClient(t, l.client, "udhcpc", "-i", labClientIf, "-f", "-q", "-n", "-t", "5", "-T", "1",
		"-s", script, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000",
		"-O", "hostname", "-O", "domain", "-O", "ntpsrv", "-O", "bootfile", "-O", "tftp")
	select {
	case <-c.done:
	case <-time.After(labWait):
		t.Fatal("udhcpc did not finish")
	}
	if c.err != nil {
		t.Fatalf("udhcpc: %v", c.err)
	}
	env := readEnv(t, out)
	got := map[string]string{}
	for _, k := range []string{"ip", "subnet", "router", "dns", "hostname", "domain", "ntpsrv", "siaddr", "boot_file", "serverid", "tftp", "bootfile"} {
		got[k] = env[k]
	}
	want := map[string]string{
		"ip": "10.3.1.40", "subnet": "255.255.255.0", "router": "10.3.1.10", "dns": "10.3.1.10",
		"hostname": "compute01", "domain": "prod.example.com", "ntpsrv": "10.3.1.10",
		"siaddr": "10.3.1.10", "boot_file": DefaultBIOSFile, "serverid": "10.3.1.10",
		"tftp": "10.3.1.10", "bootfile": DefaultBIOSFile,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("udhcpc's lease (-want +got):\n%s", d)
	}
	e := l.waitEvent(t, "lease")
	if e.Node != "compute01" || e.IP != "10.3.1.40" || e.MAC != macCompute01 {
		t.Errorf("lease event = %+v", e)
	}
}

// TestDhclientGetsReservation: ISC dhclient gets controller01's address
// and options. It sends no PXE vendor class, so no boot file.
func TestDhclientGetsReservation(t *testing.T) {
	needTool(t, "dhclient")
	plan := testPlan(t)
	l := newLab(t, macController01, "")
	l.serve(t, plan, nil)
	dir := t.TempDir()
	script, out, fifo := clientScript(t, dir, "BOUND", true)
	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("request subnet-mask, routers, domain-name-servers, host-name, domain-name, ntp-servers;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startClient(t, l.client, "dhclient", "-4", "-d", "-1", "-cf", conf, "-sf", script,
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), labClientIf)
	if r := waitFIFO(t, fifo, c); r != "BOUND" {
		t.Fatalf("hook reason %q", r)
	}
	env := readEnv(t, out)
	got := map[string]string{}
	for _, k := range []string{"new_ip_address", "new_subnet_mask", "new_routers", "new_domain_name_servers", "new_host_name", "new_domain_name", "new_ntp_servers", "new_dhcp_server_identifier", "new_dhcp_lease_time"} {
		got[k] = env[k]
	}
	want := map[string]string{
		"new_ip_address": "10.3.1.20", "new_subnet_mask": "255.255.255.0", "new_routers": "10.3.1.10",
		"new_domain_name_servers": "10.3.1.10", "new_host_name": "controller01", "new_domain_name": "prod.example.com",
		"new_ntp_servers": "10.3.1.10", "new_dhcp_server_identifier": "10.3.1.10", "new_dhcp_lease_time": "86400",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("dhclient's lease (-want +got):\n%s", d)
	}
	if e := l.waitEvent(t, "lease"); e.Node != "controller01" {
		t.Errorf("lease event = %+v", e)
	}
}

// TestUnknownMACGetsNothing: a MAC of no node gets no offer, and is
// reported as discovered with its vendor class and arch.
func TestUnknownMACGetsNothing(t *testing.T) {
	needTool(t, "udhcpc")
	plan := testPlan(t)
	l := newLab(t, macUnknown, "")
	s := l.serve(t, plan, nil)
	dir := t.TempDir()
	script, out, _ := clientScript(t, dir, "bound", false)
	c := startClient(t, l.client, "udhcpc", "-i", labClientIf, "-f", "-q", "-n", "-t", "2", "-T", "1",
		"-s", script, "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")
	e := l.waitEvent(t, "discovered")
	want := map[string]string{"vendor_class": "PXEClient:Arch:00007:UNDI:003016", "arch": "7", "firmware": "efi"}
	if e.MAC != macUnknown || e.Node != "" {
		t.Errorf("discovered event = %+v", e)
	}
	if d := cmp.Diff(want, e.Attrs); d != "" {
		t.Errorf("discovered attrs (-want +got):\n%s", d)
	}
	select {
	case <-c.done:
	case <-time.After(labWait):
		t.Fatal("udhcpc did not give up")
	}
	if c.err == nil {
		t.Error("udhcpc exited 0: it got a lease")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("udhcpc's hook ran bound")
	}
	if n := s.Counters.Offers.Load(); n != 0 {
		t.Errorf("%d offers to an unknown MAC", n)
	}
}

// TestRelayedRequestAnsweredToRelay: a DISCOVER relayed by 10.3.1.1 (a
// relay agent in the client namespace, port 67) gets its OFFER at
// giaddr:67 with compute01's address.
func TestRelayedRequestAnsweredToRelay(t *testing.T) {
	plan := testPlan(t)
	l := newLab(t, "", "10.3.1.1/24")
	l.serve(t, plan, nil)
	var relay net.PacketConn
	err := l.client.Do(func() error {
		var err error
		relay, err = net.ListenPacket("udp4", "10.3.1.1:67")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	mac, _ := net.ParseMAC(macCompute01)
	req, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithGatewayIP(net.IPv4(10, 3, 1, 1)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
	if err != nil {
		t.Fatal(err)
	}
	req.HopCount = 1
	if _, err := relay.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 3, 1, 10), Port: ServerPort}); err != nil {
		t.Fatal(err)
	}
	relay.SetReadDeadline(time.Now().Add(labWait))
	buf := make([]byte, maxPacket)
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no reply at the relay: %v", err)
	}
	reply, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if reply.MessageType() != dhcpv4.MessageTypeOffer || !reply.YourIPAddr.Equal(net.IPv4(10, 3, 1, 40)) ||
		!reply.GatewayIPAddr.Equal(net.IPv4(10, 3, 1, 1)) || reply.TransactionID != req.TransactionID {
		t.Errorf("reply from %s: %s", from, reply.Summary())
	}
	if got := from.(*net.UDPAddr).AddrPort().Port(); got != ServerPort {
		t.Errorf("reply from port %d, want %d", got, ServerPort)
	}
}

// TestProbeRefusesBesideUdhcpd: with busybox udhcpd serving a pool on the
// segment, Serve refuses to start and names udhcpd's address.
func TestProbeRefusesBesideUdhcpd(t *testing.T) {
	needTool(t, "busybox")
	plan := testPlan(t)
	l := newLab(t, "", "10.3.1.2/24")
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	body := "start 10.3.1.150\nend 10.3.1.160\ninterface " + labClientIf + "\n" +
		"lease_file " + filepath.Join(dir, "leases") + "\npidfile " + filepath.Join(dir, "pid") + "\n" +
		"option subnet 255.255.255.0\noption lease 600\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// -a: ARP-ping an address 300 ms (not 2 s) before offering it.
	startClient(t, l.client, "busybox", "udhcpd", "-f", "-a", "300", conf)
	s := &Server{Plan: func() *provision.Plan { return plan }, ProbeWait: time.Second}
	listenIn(s, l.server, labServerIf)
	want := []netip.Addr{netip.MustParseAddr("10.3.1.2")}
	got := probeUntil(t, s, len(want))
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Fatalf("probe found (-want +got):\n%s", d)
	}
	// Serve's own probe may miss udhcpd on a loaded machine (udhcpd
	// ARP-pings before it offers); it would then serve until its context
	// ends, which hung the test: a longer wait, and a deadline.
	s.ProbeWait = 3 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), labWait)
	defer cancel()
	err := s.Serve(ctx)
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("Serve = %v, want a conflict", err)
	}
	t.Logf("Serve: %v", err)
}

// TestProbeRefusesBesideSecondProvision: a second provision serving the
// same plan on the segment is found by the DISCOVER from a node's MAC.
func TestProbeRefusesBesideSecondProvision(t *testing.T) {
	plan := testPlan(t)
	l := newLab(t, "", "10.3.1.3/24")
	other := &Server{Plan: func() *provision.Plan { return plan }, NoProbe: true, ServerID: netip.MustParseAddr("10.3.1.3")}
	runServer(t, other, l.client, labClientIf)
	s := &Server{Plan: func() *provision.Plan { return plan }, ProbeWait: time.Second}
	listenIn(s, l.server, labServerIf)
	got := probeUntil(t, s, 1)
	if len(got) != 1 || got[0] != netip.MustParseAddr("10.3.1.3") {
		t.Fatalf("probe found %v, want 10.3.1.3", got)
	}
}

// probeUntil probes until want servers answer (a peer started by the test
// may need a moment to open its socket) or labWait passes.
func probeUntil(t testing.TB, s *Server, want int) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), labWait)
	defer cancel()
	for {
		got, err := s.Probe(ctx)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if len(got) >= want {
			return got
		}
	}
}

// TestProxyDHCPOverSockets: in ProxyDHCP mode a PXE DISCOVER gets an
// offer with the boot file and no address on port 67, and a request to
// port 4011 is acknowledged back to the client with the boot file.
func TestProxyDHCPOverSockets(t *testing.T) {
	plan := testPlan(t)
	// The client holds its address already, from the other DHCP server.
	l := newLab(t, macCompute01, "10.3.1.40/24")
	l.serve(t, plan, func(s *Server) { s.ProxyDHCP, s.NoProbe = true, false })
	var conn net.PacketConn
	err := l.client.Do(func() error {
		var err error
		conn, err = ListenUDP(t.Context(), labClientIf, ClientPort)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(req *dhcpv4.DHCPv4, to *net.UDPAddr) *dhcpv4.DHCPv4 {
		t.Helper()
		if _, err := conn.WriteTo(req.ToBytes(), to); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(labWait))
		buf := make([]byte, maxPacket)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no reply from %s: %v", to, err)
			}
			r, err := dhcpv4.FromBytes(buf[:n])
			if err == nil && r.TransactionID == req.TransactionID {
				return r
			}
		}
	}
	mac := mustMAC(t, macCompute01)
	d, err := dhcpv4.NewDiscovery(mac, pxeBIOS, archBIOS)
	if err != nil {
		t.Fatal(err)
	}
	offer := exchange(d, &net.UDPAddr{IP: net.IPv4bcast, Port: ServerPort})
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.IsUnspecified() ||
		offer.BootFileName != DefaultBIOSFile || offer.ClassIdentifier() != "PXEClient" {
		t.Errorf("proxy offer: %s", offer.Summary())
	}
	r, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), pxeBIOS, archBIOS,
		dhcpv4.WithClientIP(net.IPv4(10, 3, 1, 40)))
	if err != nil {
		t.Fatal(err)
	}
	ack := exchange(r, &net.UDPAddr{IP: net.IPv4(10, 3, 1, 10), Port: PXEServerPort})
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.IsUnspecified() || ack.BootFileName != DefaultBIOSFile ||
		!ack.ServerIPAddr.Equal(net.IPv4(10, 3, 1, 10)) {
		t.Errorf("boot server ack: %s", ack.Summary())
	}
}

// TestDhclientRenews: with a 4 s lease dhclient renews after 2 s by
// unicast from its address; the ACK goes back by unicast to ciaddr (RFC
// 2131 4.1) and dhclient runs its RENEW hook.
func TestDhclientRenews(t *testing.T) {
	needTool(t, "dhclient")
	plan := testPlan(t)
	l := newLab(t, macController01, "")
	l.serve(t, plan, func(s *Server) { s.LeaseTime = 4 * time.Second })
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Fatal(err)
	}
	// The hook configures the address, as dhclient-script would, so the
	// renewal can be sent from it.
	script := filepath.Join(dir, "hook")
	body := "#!/bin/sh\ncase \"$reason\" in\n" +
		"BOUND) ip addr add \"$new_ip_address/24\" dev \"$interface\" ;;\n" +
		"RENEW) echo \"RENEW $new_ip_address\" > '" + fifo + "' ;;\nesac\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c := startClient(t, l.client, "dhclient", "-4", "-d", "-1", "-sf", script,
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), labClientIf)
	if got := waitFIFO(t, fifo, c); got != "RENEW 10.3.1.20" {
		t.Fatalf("hook said %q, want RENEW 10.3.1.20", got)
	}
	l.waitEvent(t, "lease")
	if e := l.waitEvent(t, "lease"); e.Node != "controller01" {
		t.Errorf("renewal lease event %+v", e)
	}
}
