package provision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrQuorum is returned when reinstalling a node would leave a cluster
// (Galera, RabbitMQ) without a majority of healthy members.
var ErrQuorum = errors.New("would break cluster quorum")

// CheckQuorum says whether taking the nodes down (to reinstall them)
// leaves every cluster they are members of with a majority of ready
// members. A cluster none of whose members is ready has not formed yet
// and has no quorum to lose.
func CheckQuorum(plan *Plan, status map[string]Status, down []string) error {
	var errs []error
	for _, svc := range quorumServices() {
		var members, ready, readyAfter []string
		for _, n := range plan.Nodes {
			if !slices.Contains(n.Services, svc) {
				continue
			}
			members = append(members, n.Name)
			if status[n.Name].State != StateReady {
				continue
			}
			ready = append(ready, n.Name)
			if !slices.Contains(down, n.Name) {
				readyAfter = append(readyAfter, n.Name)
			}
		}
		if len(ready) == 0 || len(ready) == len(readyAfter) {
			continue
		}
		if 2*len(readyAfter) <= len(members) {
			errs = append(errs, fmt.Errorf("%s: %w: %d of %d members would stay ready (%s), a majority needs %d",
				svc, ErrQuorum, len(readyAfter), len(members), strings.Join(readyAfter, ", "), len(members)/2+1))
		}
	}
	return errors.Join(errs...)
}

// Wipes describes, one line per volume, what installing the node
// destroys: shown before a rollout or reinstall asks for confirmation.
func Wipes(n *NodePlan) []string {
	var out []string
	for _, v := range n.Storage {
		what := v.Use
		switch {
		case v.Mount != "":
			what += " " + v.Mount
		case v.VG != "":
			what += " volume group " + v.VG
		case len(v.Labels) > 0:
			what += fmt.Sprintf(" %d file systems", len(v.Labels))
		}
		level := "RAID-" + v.Level
		if v.Level == "jbod" {
			level = "JBOD"
		}
		kind := "software"
		if v.Hardware {
			kind = "PERC"
		}
		out = append(out, fmt.Sprintf("%s: %s %s %s over disks %s", v.Name, kind, level, what, joinInts(v.Members)))
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// ErrAppliance is returned for an attempt to install the appliance's own
// node.
var ErrAppliance = errors.New("is the appliance's own host: never powered or installed by provision")

// SelectRollout returns the nodes a rollout covers, in rollout order: the
// named nodes, or the nodes of the given roles, or every node; never the
// appliance's own node (naming it is an error).
func SelectRollout(plan *Plan, roles, names []string) ([]*NodePlan, error) {
	var errs []error
	pick := map[string]bool{}
	for _, name := range names {
		n, ok := plan.Node(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("node %s: not in the site", name))
		case n.Appliance:
			errs = append(errs, fmt.Errorf("node %s %w", name, ErrAppliance))
		default:
			pick[name] = true
		}
	}
	for _, r := range roles {
		found := false
		for _, n := range plan.Nodes {
			if slices.Contains(n.Roles, r) {
				found = true
				if !n.Appliance {
					pick[n.Name] = true
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("role %s: no node has it", r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	all := len(names) == 0 && len(roles) == 0
	var out []*NodePlan
	for _, st := range plan.Stages {
		for _, name := range st.Nodes {
			n, _ := plan.Node(name)
			if n.Appliance || !(all || pick[name]) {
				continue
			}
			out = append(out, n)
		}
	}
	return out, nil
}
