package profiles

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDNSRecords names every node, interface, iDRAC, switch and VIP of
// the paper site, and makes one reverse zone per /24 in use.
func TestDNSRecords(t *testing.T) {
	plan := loadSite(t, "paper")
	rec := records(plan)
	for name, want := range map[string]string{
		"compute05": "10.3.1.44", "compute05-tunnel": "10.4.1.44", "compute05-iscsi": "10.5.1.44",
		"compute05-bmc": "10.0.1.44", "admin01-idrac": "10.0.1.1", "loadbalance01-internet": "203.0.113.11",
		"swiftstorage06-swiftrepl": "10.7.1.85", "s4810p-1": "10.0.1.2", "internal-vip": "10.3.1.100",
		"public-vip": "203.0.113.100",
	} {
		if got := rec[name]; got != netip.MustParseAddr(want) {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	v, err := newView(plan, mustNode(t, plan, "admin01"), fixedInputs())
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for _, z := range v.DNS.Zones {
		zones = append(zones, z.Name)
	}
	want := []string{"prod.example.com", "1.0.10.in-addr.arpa", "1.3.10.in-addr.arpa", "1.4.10.in-addr.arpa",
		"1.5.10.in-addr.arpa", "1.6.10.in-addr.arpa", "1.7.10.in-addr.arpa", "113.0.203.in-addr.arpa"}
	if d := cmp.Diff(want, zones); d != "" {
		t.Errorf("zones (-want +got):\n%s", d)
	}
}
