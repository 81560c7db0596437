// Package metrics exposes a running appliance to Prometheus under
// /metrics: DHCP packets (read from the DHCP server's counters at scrape
// time), TFTP transfers and bytes, HTTP requests by route and status,
// BMC calls by operation and outcome with their latency, nodes by state,
// events by source and kind, and install and profile durations.
//
// Counters that come from node events (TFTP, installs, profiles) are
// folded from the tracker's update stream by Follow; HTTP requests are
// counted by Middleware around the HTTP server's routes; BMC calls by the
// wrapper InstrumentBMC returns. Every series lives in the Metrics' own
// registry: nothing is registered globally.
package metrics
