// Package dhcp is the appliance's DHCP server for PXE: it answers the
// site's nodes on the management network with their reserved address and
// the boot file their firmware needs, and nothing else unless told to.
//
// The pieces are pure where they can be, so that tests, the fuzz target
// and the benchmark call them without sockets:
//
//   - Classify reads what kind of boot client sent a request (options 60,
//     77 and 93);
//   - BootReply picks the boot file or URL for that client and node;
//   - Server.Handle turns one request into one reply and where to send it;
//   - ReplyDest applies the reply routing of RFC 2131 section 4.1.
//
// Server.Serve owns the sockets: one UDP socket on port 67 (and 4011 in
// ProxyDHCP mode) with SO_BROADCAST and SO_BINDTODEVICE, a bounded queue
// and a fixed pool of workers. It does not set SO_REUSEPORT, so a second
// server on the same port fails to start instead of silently sharing it,
// and it probes the segment for another DHCP server before it answers
// (Server.Probe; a *ConflictError names who answered). Server.Reload
// swaps the plan while serving.
//
// The tests run real clients (busybox udhcpc, ISC dhclient), a relay and
// other servers (busybox udhcpd, a second Server) in network namespaces
// joined by veth pairs (package netnstest); they skip when not root.
package dhcp
