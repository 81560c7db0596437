package provision

import "time"

// Event is something that happened to a node (or to an unknown MAC): a
// DHCP lease, a TFTP transfer, a BMC action, an installer callback. Events
// are appended to the state store; node state is derived from them.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Node   string    `json:"node,omitempty"` // empty for an unknown MAC
	Source string    `json:"source"`         // dhcp, tftp, http, bmc, callback, operator
	Kind   string    `json:"kind"`           // e.g. lease, discovered, transfer, pxe-set, power, installed
	MAC    string    `json:"mac,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Msg    string    `json:"message,omitempty"`
	// Attrs carry details (vendor class, arch, file, bytes, duration).
	// Never secrets.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// EventSink receives events. Servers take one as a function field; the
// state store's Append is the usual sink.
type EventSink func(Event)
