package dhcp

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Pool is an optional dynamic range for MACs of no node, for machines
// that must reach the network before they are in the site file. Pool
// clients get an address and no boot file. Leases live in memory only:
// after a restart a client keeps its address by asking for it again.
type Pool struct {
	// First and Last bound the range, both included. The range must be
	// inside the management network and hold no node's address.
	First, Last netip.Addr
	// OfferHold is how long an offered address stays held for a
	// REQUEST (default 1 minute).
	OfferHold time.Duration

	mu      sync.Mutex
	byMAC   map[string]*poolLease
	byAddr  map[netip.Addr]*poolLease
	blocked map[netip.Addr]time.Time // declined: in use by someone else
}

type poolLease struct {
	mac    string
	addr   netip.Addr
	expiry time.Time
}

// declineHold is how long a declined address stays out of the pool.
const declineHold = 10 * time.Minute

// ParsePool reads "FIRST-LAST".
func ParsePool(s string) (*Pool, error) {
	var first, last string
	for i := range len(s) {
		if s[i] == '-' {
			first, last = s[:i], s[i+1:]
		}
	}
	a, err1 := netip.ParseAddr(first)
	b, err2 := netip.ParseAddr(last)
	if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		return nil, fmt.Errorf("pool %q: want FIRST-LAST, two IPv4 addresses in order", s)
	}
	return &Pool{First: a, Last: b}, nil
}

// check says why the pool cannot be used beside a plan.
func (p *Pool) check(inside netip.Prefix, reserved map[netip.Addr]bool) error {
	if !inside.Contains(p.First) || !inside.Contains(p.Last) {
		return fmt.Errorf("pool %s-%s is not inside the management network %s", p.First, p.Last, inside)
	}
	// The lowest such address, so the message is the same every run.
	var held netip.Addr
	for a := range reserved {
		if !a.Less(p.First) && !p.Last.Less(a) && (!held.IsValid() || a.Less(held)) {
			held = a
		}
	}
	if held.IsValid() {
		return fmt.Errorf("pool %s-%s holds %s, an address of the site", p.First, p.Last, held)
	}
	return nil
}

func (p *Pool) init() {
	if p.byMAC == nil {
		p.byMAC = map[string]*poolLease{}
		p.byAddr = map[netip.Addr]*poolLease{}
		p.blocked = map[netip.Addr]time.Time{}
	}
}

// Offer holds an address for mac: its current one, else the first free.
func (p *Pool) Offer(mac string, now time.Time) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	hold := p.OfferHold
	if hold <= 0 {
		hold = time.Minute
	}
	if l, ok := p.byMAC[mac]; ok {
		l.expiry = later(l.expiry, now.Add(hold))
		return l.addr, true
	}
	for a := p.First; a.IsValid() && !p.Last.Less(a); a = a.Next() {
		if t, ok := p.blocked[a]; ok && now.Before(t) {
			continue
		}
		if l, ok := p.byAddr[a]; ok {
			if now.Before(l.expiry) {
				continue
			}
			delete(p.byMAC, l.mac)
		}
		l := &poolLease{mac: mac, addr: a, expiry: now.Add(hold)}
		p.byMAC[mac], p.byAddr[a] = l, l
		return a, true
	}
	return netip.Addr{}, false
}

// Lease binds addr to mac for d when addr is mac's or free.
func (p *Pool) Lease(mac string, addr netip.Addr, now time.Time, d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if addr.Less(p.First) || p.Last.Less(addr) {
		return false
	}
	if t, ok := p.blocked[addr]; ok && now.Before(t) {
		return false
	}
	if l, ok := p.byAddr[addr]; ok && l.mac != mac && now.Before(l.expiry) {
		return false
	}
	if l, ok := p.byMAC[mac]; ok && l.addr != addr {
		delete(p.byAddr, l.addr)
	}
	l := &poolLease{mac: mac, addr: addr, expiry: now.Add(d)}
	p.byMAC[mac], p.byAddr[addr] = l, l
	return true
}

// Lookup returns mac's address, if it holds one.
func (p *Pool) Lookup(mac string, now time.Time) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok && now.Before(l.expiry) {
		return l.addr, true
	}
	return netip.Addr{}, false
}

// Release frees mac's address.
func (p *Pool) Release(mac string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok {
		delete(p.byMAC, mac)
		delete(p.byAddr, l.addr)
	}
}

// Decline takes addr out of the pool for a while: RFC 2131 4.3.3, the
// client found it in use.
func (p *Pool) Decline(mac string, addr netip.Addr, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if l, ok := p.byAddr[addr]; ok && l.mac == mac {
		delete(p.byMAC, mac)
		delete(p.byAddr, addr)
	}
	p.blocked[addr] = now.Add(declineHold)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
