// Package idracsim is a Redfish service shaped like a Dell iDRAC (iDRAC7/8
// with Redfish firmware): the same resource paths
// (/redfish/v1/Systems/System.Embedded.1, /Managers/iDRAC.Embedded.1,
// EthernetInterfaces NIC.Integrated.1-1-1 ...), the same error answers
// (409 PSU501 when asked to power on a running server, 400 for a value not
// in @Redfish.AllowableValues, 401 on bad credentials, 503 RAC0218 when the
// sessions run out, SWC0700 "iDRAC not ready"), a power state that changes
// after a delay, a one-time boot override consumed by the next boot, and the
// trap of writing BootSourceOverrideMode (which queues a BIOS job on a real
// iDRAC, even when the value does not change).
//
// Faults (latency, 5xx answers, stalls in the TLS handshake or the body,
// dropped connections) are injected at run time, so the BMC client's
// timeouts and retries are tested against the same server that serves the
// happy path. Slow is a ready-made latency profile: a busy iDRAC 7, slow to
// log in and to act, quicker to read.
//
// A Sim is the state and the http.Handler; a Server serves one Sim over TLS
// with a self-signed certificate generated at start; a Fleet serves many,
// one per listen address, as a rack looks to the appliance (ConfigFor makes
// a node's simulator from its plan). Power transitions run on a Clock, the
// wall clock unless a ManualClock is given, so tests and the virtual lab
// decide how long a POST takes. Every NIC's MAC is derived from the node
// name and the NIC's Redfish id (MAC), so it is the same on every run.
// OnBoot is the hook the virtual lab uses to start a simulated node when
// the system powers on, with whether a one-time PXE override was set.
package idracsim
