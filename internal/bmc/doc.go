// Package bmc drives Dell iDRACs over Redfish (through gofish): status,
// MAC discovery, one-time PXE, power, and a preflight of everything a
// rollout needs from a BMC.
//
// A Client talks to one iDRAC. Every call is bounded: the transport has
// dial, TLS-handshake and response-header timeouts (gofish sets none), every
// attempt has its own deadline covering the body, and every operation runs
// under the caller's context plus an operation timeout. Calls to one iDRAC
// are serialised: iDRACs answer slowly and run out of sessions when pressed.
// Timeouts, 5xx answers, 503s and "iDRAC not ready" (SWC0700) are retried
// with backoff, but a POST that reached the iDRAC is retried only on a 503,
// which iDRACs send before acting: a reset done twice would cost a node its
// one-time PXE boot.
//
// The iDRAC's certificate is verified against a SHA-256 fingerprint pinned
// on first contact (Fingerprint, then `provision bmc trust`), or against a CA
// file; skipping verification must be asked for, and logs a warning on
// every Client.
//
// An operation is a job: an ordered list of steps, each with a check of
// whether its goal already holds, a run, and a wait until the goal holds
// (rufio's shape). Every step taken is an event on the node.
package bmc
