package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/provision/provision/internal/dhcp"
	"github.com/provision/provision/provision"
)

// dhcpLabels labels each of the DHCP server's counters (by their
// Snapshot names) with a message type and an outcome. A counter not named
// here is still exposed, as type "other".
func dhcpLabels(name string) (typ, outcome string) {
	switch name {
	case "received":
		return "any", "received"
	case "malformed":
		return "any", "malformed"
	case "queue_drops":
		return "any", "queue_full"
	case "ignored":
		return "any", "ignored"
	case "unknown":
		return "any", "unknown_mac"
	case "wrong_subnet":
		return "any", "wrong_subnet"
	case "discovered":
		return "any", "discovered"
	case "offers":
		return "offer", "sent"
	case "acks":
		return "ack", "sent"
	case "naks":
		return "nak", "sent"
	case "send_errors":
		return "reply", "send_error"
	case "informs":
		return "inform", "received"
	case "declines":
		return "decline", "received"
	case "releases":
		return "release", "received"
	}
	return "other", name
}

// dhcpCollector reads the DHCP server's counters at scrape time.
type dhcpCollector struct {
	c                  *dhcp.Counters
	packets, eventDrop *prometheus.Desc
}

func newDHCPCollector(c *dhcp.Counters) dhcpCollector {
	return dhcpCollector{c: c,
		packets: prometheus.NewDesc("provision_dhcp_packets_total",
			"DHCP packets by message type and outcome: every packet read counts as type any, outcome received.",
			[]string{"type", "outcome"}, nil),
		eventDrop: prometheus.NewDesc("provision_dhcp_event_drops_total",
			"DHCP events dropped because the event sink fell behind.", nil, nil),
	}
}

func (d dhcpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.packets
	ch <- d.eventDrop
}

func (d dhcpCollector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range d.c.Snapshot() {
		if name == "event_drops" {
			ch <- prometheus.MustNewConstMetric(d.eventDrop, prometheus.CounterValue, float64(v))
			continue
		}
		typ, outcome := dhcpLabels(name)
		ch <- prometheus.MustNewConstMetric(d.packets, prometheus.CounterValue, float64(v), typ, outcome)
	}
}

// nodesCollector counts the nodes in each state at scrape time.
type nodesCollector struct {
	statuses func() map[string]provision.Status
	desc     *prometheus.Desc
}

func newNodesCollector(statuses func() map[string]provision.Status) nodesCollector {
	return nodesCollector{statuses: statuses, desc: prometheus.NewDesc("provision_nodes",
		"Nodes by state (every state is exposed, zero included).", []string{"state"}, nil)}
}

func (n nodesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- n.desc }

func (n nodesCollector) Collect(ch chan<- prometheus.Metric) {
	count := map[provision.State]int{}
	for _, st := range n.statuses() {
		count[st.State]++
	}
	for _, s := range provision.States() {
		ch <- prometheus.MustNewConstMetric(n.desc, prometheus.GaugeValue, float64(count[s]), string(s))
		delete(count, s)
	}
	for s, c := range count { // a state this build does not know
		ch <- prometheus.MustNewConstMetric(n.desc, prometheus.GaugeValue, float64(c), string(s))
	}
}
