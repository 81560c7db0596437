package profiles

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestVRRPPriorities: each VIP has one preferred holder, the preference
// rotates over the holders, every holder unicasts to all the others, and
// each VIP has its own router id.
func TestVRRPPriorities(t *testing.T) {
	type inst struct {
		VIP      string
		Priority int
		RouterID int
		Peers    int
		Iface    string
	}
	tests := []struct {
		site, node string
		want       []inst
	}{
		{"paper", "loadbalance01", []inst{{"internal", 150, 51, 1, "bond0"}, {"swift", 100, 52, 1, "bond0"}, {"public", 150, 53, 1, "em3"}}},
		{"paper", "loadbalance02", []inst{{"internal", 100, 51, 1, "bond0"}, {"swift", 150, 52, 1, "bond0"}, {"public", 100, 53, 1, "em3"}}},
		{"staging", "controller01", []inst{{"internal", 150, 51, 2, "bond0"}, {"swift", 50, 52, 2, "bond0"}}},
		{"staging", "controller02", []inst{{"internal", 100, 51, 2, "bond0"}, {"swift", 150, 52, 2, "bond0"}}},
		{"staging", "controller03", []inst{{"internal", 50, 51, 2, "bond0"}, {"swift", 100, 52, 2, "bond0"}}},
	}
	for _, tc := range tests {
		t.Run(tc.site+"/"+tc.node, func(t *testing.T) {
			plan := loadSite(t, tc.site)
			v, err := newView(plan, mustNode(t, plan, tc.node), fixedInputs())
			if err != nil {
				t.Fatal(err)
			}
			var got []inst
			for _, i := range v.LB.Instances {
				got = append(got, inst{i.Name, i.Priority, i.RouterID, len(i.Peers), i.Interface})
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("instances (-want +got):\n%s", d)
			}
		})
	}
}

// TestGaleraBackends: HAProxy sends database traffic to one controller,
// the others standing by, and every other service to all of them.
func TestGaleraBackends(t *testing.T) {
	plan := loadSite(t, "paper")
	v, err := newView(plan, mustNode(t, plan, "loadbalance01"), fixedInputs())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range v.LB.Listeners {
		var backups []string
		for _, b := range l.Backends {
			if b.Backup {
				backups = append(backups, b.Name)
			}
		}
		want := []string(nil)
		if l.MySQL {
			want = []string{"controller02", "controller03"}
		}
		if d := cmp.Diff(want, backups); d != "" {
			t.Errorf("%s backups (-want +got):\n%s", l.Name, d)
		}
	}
}
