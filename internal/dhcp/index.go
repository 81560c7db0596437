package dhcp

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/provision/provision/provision"
)

// macIndex finds a node by the MAC it PXE-boots from. It is built once per
// plan (plans are immutable) and replaced when the plan is swapped.
type macIndex struct {
	plan     *provision.Plan
	byMAC    map[string]*provision.NodePlan // key: the 6 raw bytes
	reserved map[netip.Addr]bool            // every node's PXE address
	// opts are each node's address options, encoded once per plan
	// instead of once per reply. The values are shared by every reply
	// and never written.
	opts map[*provision.NodePlan]*nodeOptions
	// lease is options 51, 58 and 59 for a lease of leaseFor.
	leaseFor time.Duration
	lease    [3][]byte
}

// leaseOptions are options 51, 58 and 59 of a lease of d: the lease time,
// and the renewal (T1) and rebinding (T2) times at RFC 2131 4.4.5's
// defaults, half and seven eighths of it.
func leaseOptions(d time.Duration) [3][]byte {
	return [3][]byte{seconds(d), seconds(d / 2), seconds(d * 7 / 8)}
}

// nodeOptions are the option values of a node's address (see
// addressOptions).
type nodeOptions struct {
	yiaddr, mask, router, dns, ntp, host, domain []byte
}

func newNodeOptions(p *provision.Plan, n *provision.NodePlan) *nodeOptions {
	o := &nodeOptions{yiaddr: ip4(n.PXE.Address), dns: ips(n.DNS), ntp: ips(n.NTP), host: []byte(n.Name)}
	pfx := n.PXE.Prefix.Masked()
	if pfx.IsValid() {
		o.mask = net.CIDRMask(pfx.Bits(), 32)
	}
	if m := p.ManagementNetwork(); m != nil && m.Gateway.IsValid() && pfx.Contains(m.Gateway) {
		o.router = ip4(m.Gateway)
	}
	if d := p.Site.Domain; d != "" {
		o.domain = []byte(d)
	}
	return o
}

func newMACIndex(p *provision.Plan) *macIndex {
	idx := &macIndex{plan: p, byMAC: map[string]*provision.NodePlan{}, reserved: map[netip.Addr]bool{},
		opts: map[*provision.NodePlan]*nodeOptions{}}
	if p == nil {
		return idx
	}
	if p.Site.ApplianceAddr.IsValid() {
		idx.reserved[p.Site.ApplianceAddr] = true
	}
	for _, n := range p.Nodes {
		if n.PXE.Address.IsValid() {
			idx.reserved[n.PXE.Address] = true
		}
		if n.PXE.MAC == "" || !n.PXE.Address.IsValid() {
			continue
		}
		mac, err := net.ParseMAC(n.PXE.MAC)
		if err != nil {
			continue // the plan validated it; a bad one cannot match anyway
		}
		idx.byMAC[string(mac)] = n
		idx.opts[n] = newNodeOptions(p, n)
	}
	return idx
}

// index returns the index of plan p, building it on the first request
// after a plan swap.
func (s *Server) index(p *provision.Plan) *macIndex {
	if idx := s.idx.Load(); idx != nil && idx.plan == p {
		return idx
	}
	idx := newMACIndex(p)
	idx.leaseFor = s.leaseTime()
	idx.lease = leaseOptions(idx.leaseFor)
	s.idx.Store(idx)
	return idx
}

// seenMACs remembers when each unknown MAC was last reported, so a client
// retrying every few seconds makes one discovered event per interval. It
// holds at most max MACs (default maxSeenMACs): past that it forgets them
// all, which costs at worst a repeated event, never unbounded memory.
type seenMACs struct {
	mu   sync.Mutex
	last map[string]time.Time
	max  int
}

func (m *seenMACs) first(mac string, now time.Time, every time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.max == 0 {
		m.max = maxSeenMACs
	}
	if m.last == nil || len(m.last) >= m.max {
		m.last = make(map[string]time.Time)
	}
	if t, ok := m.last[mac]; ok && now.Sub(t) < every {
		return false
	}
	m.last[mac] = now
	return true
}
