package netnstest

import (
	"net"
	"testing"
)

// TestLinkAndDo: a veth pair joins two namespaces, and a socket opened in
// Do belongs to its namespace: a datagram sent from one end reaches a
// socket bound to the other end's address, which the host does not have.
func TestLinkAndDo(t *testing.T) {
	a, b := New(t), New(t)
	Link(t, a, "nt-a", "198.51.100.1/24", b, "nt-b", "198.51.100.2/24", "02:00:00:00:00:02")
	var recv, send net.PacketConn
	if err := b.Do(func() (err error) { recv, err = net.ListenPacket("udp4", "198.51.100.2:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if err := a.Do(func() (err error) { send, err = net.ListenPacket("udp4", "198.51.100.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	if _, err := send.WriteTo([]byte("ping"), recv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := recv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.(*net.UDPAddr).IP.String() != "198.51.100.1" {
		t.Fatalf("got %q from %v: %v", buf[:n], from, err)
	}
	if _, err := net.ListenPacket("udp4", "198.51.100.2:0"); err == nil {
		t.Error("the host namespace has the namespace's address")
	}
}
