package dhcp

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/provision/provision/provision"
)

// Server is the DHCP server. Set the exported fields, then call Serve.
// Handle and HandlePacket may be called without Serve (tests, benchmarks).
type Server struct {
	// Plan returns the current plan. It is called once per request, so
	// a reload swaps the plan (an atomic.Pointer's Load) without
	// dropping requests. A plan given to Reload takes its place.
	Plan func() *provision.Plan
	// Interface is the network interface to serve on (SO_BINDTODEVICE);
	// empty serves on every interface.
	Interface string
	// ServerID is option 54 and the source of the replies; default the
	// plan's appliance address.
	ServerID netip.Addr
	// ProxyDHCP answers only boot information, on port 67 and 4011, for
	// a network where another server hands out addresses.
	ProxyDHCP bool
	// Pool, when set, gives MACs of no node an address (and no boot file).
	Pool *Pool
	// Files names the boot files and URL paths.
	Files BootFiles
	// LeaseTime of a reservation; default 24 hours.
	LeaseTime time.Duration
	// Netboot says whether a node boots from the network now; default
	// the node's plan (NodePlan.Netboot).
	Netboot func(*provision.NodePlan) bool
	// Events receives lease, decline, release and discovered events,
	// one at a time, from one goroutine, in the order they happened.
	// EventBatch, when set, receives them instead, in batches: the
	// events of up to 10 ms, and those that arrived while the last
	// batch was being stored, so that a sink that stores them commits
	// many in one transaction (tracker.RecordBatch); the slice is
	// reused once it returns. If the sink falls behind, events are
	// dropped and counted rather than stalling the replies.
	Events     provision.EventSink
	EventBatch func([]provision.Event)
	Log        *slog.Logger
	// Workers is how many goroutines read and answer each socket
	// (default 1: one answers faster than perfdhcp can ask on two
	// cores, and more contend for the socket). Queue is how many
	// requests the socket's receive buffer holds while they are busy
	// (default 2048); the kernel drops the datagrams beyond, and
	// Counters.QueueDrops counts them. Both bound the work under a storm.
	Workers, Queue int
	// SummaryEvery is how often Serve logs, at Info, what it did since
	// the last summary (offers, acks, unknown MACs, drops), when it did
	// anything: each lease is an event of its node and a Debug line. 0
	// is every minute; negative never.
	SummaryEvery time.Duration
	// NoProbe skips the start-up check for another DHCP server.
	NoProbe bool
	// ProbeWait is how long the probe waits for offers (default 4s: busybox
	// udhcpd ARP-pings an address for up to 2s before it offers it).
	ProbeWait time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ListenPacket opens the server's socket on a port (67, or 4011 in
	// ProxyDHCP mode) and, for the probe, 68; default ListenUDP on
	// Interface. Tests set it to open sockets inside a network namespace.
	ListenPacket func(ctx context.Context, port int) (net.PacketConn, error)

	// Counters are updated as packets are handled.
	Counters Counters

	cur atomic.Pointer[provision.Plan] // set by Reload
	// listening, when set, is called once Serve's sockets are open
	// (tests wait on it instead of sleeping).
	listening func()
	idx       atomic.Pointer[macIndex]
	seen      seenMACs
	events    chan provision.Event // to the event writer, set by Serve before any reader starts
}

const (
	defaultLeaseTime = 24 * time.Hour
	defaultSummary   = time.Minute
	defaultWorkers   = 1
	defaultQueue     = 2048
	// maxEventBatch is the most events handed to EventBatch at once;
	// eventBatchWait how long a batch waits for more after its first.
	maxEventBatch   = 512
	eventBatchWait  = 10 * time.Millisecond
	discoveredEvery = 10 * time.Minute
	maxSeenMACs     = 4096
)

// discardLog is the logger of a Server without Log. It is never changed.
var discardLog = slog.New(slog.DiscardHandler)

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return discardLog
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) leaseTime() time.Duration {
	if s.LeaseTime > 0 {
		return s.LeaseTime
	}
	return defaultLeaseTime
}

func (s *Server) netboot(n *provision.NodePlan) bool {
	if s.Netboot != nil {
		return s.Netboot(n)
	}
	return n.Netboot
}

func (s *Server) serverID(p *provision.Plan) netip.Addr {
	if s.ServerID.IsValid() {
		return s.ServerID
	}
	return p.Site.ApplianceAddr
}

// emit hands an event to the sink without holding up the reply.
func (s *Server) emit(e provision.Event) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if s.events == nil {
		// Handle called without Serve: straight to the sink.
		switch {
		case s.EventBatch != nil:
			s.EventBatch([]provision.Event{e})
		case s.Events != nil:
			s.Events(e)
		}
		return
	}
	select {
	case s.events <- e:
	default:
		s.Counters.EventDrops.Add(1)
	}
}
