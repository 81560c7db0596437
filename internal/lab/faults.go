package lab

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NodeFaults are the fault switches of one simulated node.
type NodeFaults struct {
	IDRACDown bool `json:"idrac_down,omitempty"`
	// IDRACSlow is the latency of a slow iDRAC (idracsim.Slow): logins
	// and actions answer this late, other requests a quarter of it.
	IDRACSlow   Duration `json:"idrac_slow,omitzero"`
	NoCallback  bool     `json:"no_callback,omitempty"`
	MissingDisk string   `json:"missing_disk,omitempty"`
	// LinkFlap takes the node's switch port down and up from each
	// power-on.
	LinkFlap *LinkFlap `json:"link_flap,omitempty"`
}

// String lists the switches that are on, "" for none.
func (f NodeFaults) String() string {
	var on []string
	if f.IDRACDown {
		on = append(on, "iDRAC down")
	}
	if f.IDRACSlow.Duration > 0 {
		on = append(on, "iDRAC slow ("+f.IDRACSlow.String()+")")
	}
	if f.NoCallback {
		on = append(on, "never calls back")
	}
	if f.MissingDisk != "" {
		on = append(on, "disk "+f.MissingDisk+" missing")
	}
	if f.LinkFlap != nil {
		on = append(on, "link flaps ("+f.LinkFlap.String()+")")
	}
	return strings.Join(on, ", ")
}

// LinkFlap is a switch port that goes down for Down every Period, from
// each power-on of the node, Times times (0: until the server is powered
// off), and then stays up.
type LinkFlap struct {
	Period Duration `json:"period"`
	Down   Duration `json:"down"`
	Times  int      `json:"times"`
}

// Defaults of the faults' optional values.
const (
	DefaultIDRACSlow = 2 * time.Second
	DefaultFlapEvery = 4 * time.Second
	DefaultFlaps     = 3
	// flapDown is how long the port stays down: a renegotiation.
	flapDown = time.Second
)

func (f LinkFlap) String() string {
	times := strconv.Itoa(f.Times) + " times"
	if f.Times == 0 {
		times = "until power-off"
	}
	return fmt.Sprintf("down %s every %s, %s", f.Down, f.Period, times)
}

// ParseIDRACSlow reads the value of --idrac-slow NODE[=DELAY]; "" is the
// default delay.
func ParseIDRACSlow(s string) (time.Duration, error) {
	if s == "" {
		return DefaultIDRACSlow, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("iDRAC delay %q: want a positive duration (2s, 500ms)", s)
	}
	return d, nil
}

// ParseLinkFlap reads the value of --link-flap NODE[=PERIOD[xTIMES]]: ""
// is the default, "5s" five seconds apart three times, "5sx10" ten times,
// "5sx0" until power-off. The port is down for a second, or half the
// period when that is shorter.
func ParseLinkFlap(s string) (LinkFlap, error) {
	f := LinkFlap{Period: Duration{DefaultFlapEvery}, Times: DefaultFlaps}
	period, times, hasTimes := strings.Cut(s, "x")
	if period != "" {
		d, err := time.ParseDuration(period)
		if err != nil || d <= 0 {
			return f, fmt.Errorf("link flap %q: want PERIOD[xTIMES] with a positive period (4s, 4sx3, 2sx0)", s)
		}
		f.Period.Duration = d
	}
	if hasTimes {
		n, err := strconv.Atoi(times)
		if err != nil || n < 0 {
			return f, fmt.Errorf("link flap %q: TIMES is a count, 0 for until power-off", s)
		}
		f.Times = n
	}
	f.Down.Duration = min(flapDown, f.Period.Duration/2)
	return f, nil
}

// checkQEMUFaults refuses the installer's fault switches on QEMU nodes:
// their installer is the VM kit's, which has no %pre disk checks and
// always calls back. The iDRAC and link faults apply to them as to every
// node.
func checkQEMUFaults(qemu map[string]string, faults map[string]NodeFaults) error {
	var errs []error
	for node := range qemu {
		f := faults[node]
		if f.NoCallback {
			errs = append(errs, fmt.Errorf("node %s is a QEMU node: --no-callback applies to simulated nodes only", node))
		}
		if f.MissingDisk != "" {
			errs = append(errs, fmt.Errorf("node %s is a QEMU node: --missing-disk applies to simulated nodes only", node))
		}
	}
	return errors.Join(errs...)
}
