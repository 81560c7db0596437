package dhcp

import "sync/atomic"

// Counters count what the server did, for metrics. Every field only goes
// up; read them with Snapshot or each field's Load.
type Counters struct {
	Received    atomic.Uint64 // packets read from the sockets
	Malformed   atomic.Uint64 // dropped: not a parseable DHCP request
	QueueDrops  atomic.Uint64 // dropped by the kernel: the socket's receive queue was full
	Ignored     atomic.Uint64 // well-formed, nothing to answer (other server's, BOOTP, ...)
	Offers      atomic.Uint64
	Acks        atomic.Uint64
	Naks        atomic.Uint64
	Informs     atomic.Uint64
	Declines    atomic.Uint64
	Releases    atomic.Uint64
	Unknown     atomic.Uint64 // requests from MACs of no node
	Discovered  atomic.Uint64 // discovered events emitted (once per MAC per interval)
	WrongSubnet atomic.Uint64 // relayed from a subnet the client's address is not in
	SendErrors  atomic.Uint64
	EventDrops  atomic.Uint64 // events dropped because the sink fell behind
}

// Snapshot returns the counters by name.
func (c *Counters) Snapshot() map[string]uint64 {
	return map[string]uint64{
		"received":     c.Received.Load(),
		"malformed":    c.Malformed.Load(),
		"queue_drops":  c.QueueDrops.Load(),
		"ignored":      c.Ignored.Load(),
		"offers":       c.Offers.Load(),
		"acks":         c.Acks.Load(),
		"naks":         c.Naks.Load(),
		"informs":      c.Informs.Load(),
		"declines":     c.Declines.Load(),
		"releases":     c.Releases.Load(),
		"unknown":      c.Unknown.Load(),
		"discovered":   c.Discovered.Load(),
		"wrong_subnet": c.WrongSubnet.Load(),
		"send_errors":  c.SendErrors.Load(),
		"event_drops":  c.EventDrops.Load(),
	}
}
