package provision

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckQuorum(t *testing.T) {
	plan, probs := loadBuild(t, writeSite(t, "paper", exampleSite(t, "paper")))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	all := func(s State) map[string]Status {
		m := map[string]Status{}
		for _, n := range plan.Nodes {
			m[n.Name] = Status{Node: n.Name, State: s}
		}
		return m
	}
	tests := []struct {
		name   string
		status map[string]Status
		down   []string
		ok     bool
	}{
		{"cluster not formed yet", all(StateNew), []string{"controller01", "controller02"}, true},
		{"one of three ready controllers", all(StateReady), []string{"controller02"}, true},
		{"two of three", all(StateReady), []string{"controller01", "controller03"}, false},
		{"one while another is failed", func() map[string]Status {
			m := all(StateReady)
			m["controller03"] = Status{Node: "controller03", State: StateFailed}
			return m
		}(), []string{"controller01"}, false},
		{"a compute node", all(StateReady), []string{"compute05"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckQuorum(plan, tt.status, tt.down)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckQuorum = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrQuorum) || !strings.Contains(err.Error(), "galera")) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestSelectRollout(t *testing.T) {
	plan, probs := loadBuild(t, writeSite(t, "paper", exampleSite(t, "paper")))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	all, err := SelectRollout(plan, nil, nil)
	if err != nil || len(all) != 26 {
		t.Fatalf("%d nodes, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Stage < all[i-1].Stage {
			t.Fatalf("%s (stage %d) after %s (stage %d)", all[i].Name, all[i].Stage, all[i-1].Name, all[i-1].Stage)
		}
	}
	if all[0].Stage == 0 || !strings.HasPrefix(all[0].Name, "loadbalance") {
		t.Fatalf("first %s", all[0].Name)
	}
	ctl, err := SelectRollout(plan, []string{"controller"}, []string{"compute05"})
	if err != nil || len(ctl) != 4 || ctl[3].Name != "compute05" {
		t.Fatalf("%v %v", ctl, err)
	}
	_, err = SelectRollout(plan, []string{"nope"}, []string{"admin01", "compute99"})
	for _, want := range []string{"role nope", "admin01 is the appliance", "compute99: not in the site"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestWipes(t *testing.T) {
	plan, _ := loadBuild(t, writeSite(t, "paper", exampleSite(t, "paper")))
	n, _ := plan.Node("blockstorage01")
	got := strings.Join(Wipes(n), "\n")
	for _, want := range []string{"RAID-1 os /", "RAID-6 lvm volume group cinder-volumes"} {
		if !strings.Contains(got, want) {
			t.Errorf("Wipes lacks %q:\n%s", want, got)
		}
	}
}
