package simnode

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// DHCP ports (RFC 2131 4.1).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
)

// client is who sends a DHCP exchange: the PXE ROM, iPXE, or the
// installer (an ordinary client).
type client int

const (
	clientFirmware client = iota
	clientIPXE
	clientInstaller
)

var clientNames = [...]string{"firmware", "iPXE", "installer"}

func (c client) String() string { return clientNames[c] }

// ErrNoOffer is returned when no server answered the DHCP exchange.
var ErrNoOffer = errors.New("no DHCP offer")

// lease is what an ACK gave.
type lease struct {
	addr     netip.Prefix
	router   netip.Addr
	server   netip.Addr // next-server (siaddr), else option 66, else option 54
	bootFile string
}

// vendorClass is option 60 of the node's PXE firmware (PXE specification
// 2.1: arch and UNDI version).
func (n *node) vendorClass() string {
	if n.cfg.BootMode == "uefi" {
		return "PXEClient:Arch:00007:UNDI:003016"
	}
	return "PXEClient:Arch:00000:UNDI:002001"
}

// modifiers are the options c sends in DISCOVER and REQUEST.
func (n *node) modifiers(c client) []dhcpv4.Modifier {
	mods := []dhcpv4.Modifier{
		// PXE ROMs and iPXE ask for a broadcast answer: they have no
		// address to take a unicast one.
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1472)),
	}
	if c == clientInstaller {
		return append(mods, dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask,
			dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer, dhcpv4.OptionHostName, dhcpv4.OptionDomainName))
	}
	arch := []byte{0, 0}
	if n.cfg.BootMode == "uefi" {
		arch = []byte{0, 7}
	}
	// RFC 4578 2.2 and 2.3: the network interface (UNDI 2.1) and a machine
	// GUID, here derived from the MAC so it is stable.
	sum := sha256.Sum256(n.cfg.MAC)
	guid := append([]byte{0}, sum[:16]...)
	mods = append(mods,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(n.vendorClass())),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, arch),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
			dhcpv4.OptionHostName, dhcpv4.OptionDomainName, dhcpv4.OptionVendorSpecificInformation,
			dhcpv4.OptionClassIdentifier, dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName),
	)
	if c == clientIPXE {
		// iPXE's user class, and its feature list in option 175
		// (encapsulated: 0x13 HTTP, 0x11 DNS, 0x19 TFTP, 0xb1 PXE
		// extensions, each one byte long with value 1).
		mods = append(mods,
			dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
			dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), []byte{0x13, 1, 1, 0x11, 1, 1, 0x19, 1, 1, 0xb1, 1, 1}),
		)
	}
	return mods
}

// listenDHCP opens the client's socket: port 68 on the PXE interface, able
// to broadcast. The node has no address yet; the appliance's DHCP server
// broadcasts its answers (RFC 2131 4.1, broadcast bit), which reach a
// socket bound to the wildcard address.
func (n *node) listenDHCP(ctx context.Context) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			serr = unix.BindToDevice(int(fd), n.cfg.Interface)
		})
		return errors.Join(err, serr)
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", dhcpClientPort))
	if err != nil {
		return nil, fmt.Errorf("dhcp client on %s: %w", n.cfg.Interface, err)
	}
	return conn, nil
}

// dhcp runs DISCOVER-OFFER-REQUEST-ACK as c and returns the lease.
func (n *node) dhcp(ctx context.Context, c client) (lease, error) {
	if err := n.waitLink(ctx, c); err != nil {
		return lease{}, err
	}
	conn, err := n.listenDHCP(ctx)
	if err != nil {
		return lease{}, err
	}
	defer conn.Close()
	// Closing the socket ends a read waiting when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	mods := n.modifiers(c)
	disc, err := dhcpv4.NewDiscovery(n.cfg.MAC, mods...)
	if err != nil {
		return lease{}, fmt.Errorf("dhcp discover: %w", err)
	}
	offer, err := n.exchange(ctx, conn, disc, dhcpv4.MessageTypeOffer)
	if err != nil {
		return lease{}, err
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		return lease{}, fmt.Errorf("dhcp request: %w", err)
	}
	ack, err := n.exchange(ctx, conn, req, dhcpv4.MessageTypeAck)
	if err != nil {
		return lease{}, err
	}
	return leaseOf(ack)
}

// exchange sends msg and waits for an answer of type want (or a NAK),
// sending again after DHCPTimeout, doubled each time, DHCPRetries times
// (the PXE specification's 4, 8, 16, 32 s, shortened).
func (n *node) exchange(ctx context.Context, conn net.PacketConn, msg *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpServerPort}
	timeout := n.cfg.DHCPTimeout
	buf := make([]byte, 1500)
	for attempt := 0; attempt <= n.cfg.DHCPRetries; attempt++ {
		if err := wait(ctx, n.cfg.Faults.SlowDHCP); err != nil {
			return nil, err
		}
		if _, err := conn.WriteTo(msg.ToBytes(), dst); err != nil {
			return nil, fmt.Errorf("dhcp %s: send: %w", msg.MessageType(), err)
		}
		deadline := time.Now().Add(timeout)
		_ = conn.SetReadDeadline(deadline)
		for {
			nr, _, err := conn.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, fmt.Errorf("dhcp %s: read: %w", msg.MessageType(), err)
			}
			reply, err := dhcpv4.FromBytes(buf[:nr])
			if err != nil || reply.OpCode != dhcpv4.OpcodeBootReply || reply.TransactionID != msg.TransactionID {
				continue
			}
			switch reply.MessageType() {
			case want:
				return reply, nil
			case dhcpv4.MessageTypeNak:
				return nil, fmt.Errorf("dhcp %s: NAK from %s: %s", msg.MessageType(), reply.ServerIdentifier(), reply.Message())
			}
		}
		timeout *= 2
	}
	return nil, fmt.Errorf("dhcp %s: %w after %d tries", msg.MessageType(), ErrNoOffer, n.cfg.DHCPRetries+1)
}

func leaseOf(ack *dhcpv4.DHCPv4) (lease, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return lease{}, errors.New("dhcp: ACK without an address")
	}
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		bits, _ = m.Size()
	}
	l := lease{addr: netip.PrefixFrom(ip, bits), bootFile: ack.BootFileNameOption()}
	if l.bootFile == "" {
		l.bootFile = ack.BootFileName
	}
	if r := ack.Router(); len(r) > 0 {
		l.router, _ = netip.AddrFromSlice(r[0].To4())
	}
	for _, cand := range []net.IP{ack.ServerIPAddr, net.ParseIP(ack.TFTPServerName()), ack.ServerIdentifier()} {
		if a, ok := netip.AddrFromSlice(cand.To4()); ok && !a.IsUnspecified() {
			l.server = a
			break
		}
	}
	return l, nil
}

// configure gives the PXE interface the lease's address, and a default
// route when the lease names a router, as the firmware's own stack does.
func (n *node) configure(ctx context.Context, l lease) error {
	if err := n.setAddr(ctx, l.addr.String()); err != nil {
		return err
	}
	if l.router.IsValid() && l.router != l.addr.Addr() {
		// A router outside the subnet cannot be reached: not an error for
		// a node that only talks to its own subnet.
		if err := n.ip.run(ctx, "route", "replace", "default", "via", l.router.String(), "dev", n.cfg.Interface); err != nil {
			n.cfg.Log.Debug("default route", "err", err)
		}
	}
	return nil
}
