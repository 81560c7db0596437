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
}

func newMACIndex(p *provision.Plan) *macIndex {
	idx := &macIndex{plan: p, byMAC: map[string]*provision.NodePlan{}, reserved: map[netip.Addr]bool{}}
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
