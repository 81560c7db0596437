package store

import (
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

func TestNetboot(t *testing.T) {
	s, err := Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetFlag("compute02", FlagNetboot, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlag("compute03", FlagNetboot, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		node provision.NodePlan
		want bool
	}{
		{"never set: the plan's default on", provision.NodePlan{Name: "compute01", Netboot: true}, true},
		{"never set: the plan's default off", provision.NodePlan{Name: "compute01", Netboot: false}, false},
		{"set off over the plan's on", provision.NodePlan{Name: "compute02", Netboot: true}, false},
		{"set on over the plan's off", provision.NodePlan{Name: "compute03", Netboot: false}, true},
		{"appliance never", provision.NodePlan{Name: "admin01", Netboot: true, Appliance: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Netboot(&tt.node)
			if err != nil || got != tt.want {
				t.Errorf("Netboot = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
