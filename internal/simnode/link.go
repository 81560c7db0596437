package simnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNoLink is returned when the PXE NIC had no carrier for as long as
// the program on it waits for one.
var ErrNoLink = errors.New("no link")

// linkWait is how long each program waits for the PXE NIC's carrier
// before its DHCP: the PXE ROM's media test gives up with PXE-E61 after
// some seconds, iPXE waits 15 s ("Waiting for link-up on net0"), and the
// installer's NetworkManager waits for a carrier before it asks for an
// address.
var linkWait = [...]time.Duration{clientFirmware: 10 * time.Second, clientIPXE: 15 * time.Second, clientInstaller: 15 * time.Second}

// linkPoll is how often the carrier is read while waiting.
const linkPoll = 50 * time.Millisecond

// waitLink waits until the PXE NIC has a carrier (IFF_RUNNING: its peer,
// the switch port, is up), for at most c's linkWait. A NIC that has one
// costs a single read; one that has not is reported as a step when the
// wait starts and when it ends, as the firmware prints it.
func (n *node) waitLink(ctx context.Context, c client) error {
	up, err := n.carrier()
	if err != nil || up {
		return err
	}
	phase := map[client]string{clientFirmware: PhaseFirmware, clientIPXE: PhaseIPXE, clientInstaller: PhaseInstaller}[c]
	n.step(phase, "link", fmt.Sprintf("%s: no link, waiting for link-up (%s at most)", n.cfg.Interface, linkWait[c]))
	start := time.Now()
	deadline := time.NewTimer(linkWait[c])
	defer deadline.Stop()
	tick := time.NewTicker(linkPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s: %w after %s", n.cfg.Interface, ErrNoLink, linkWait[c])
		case <-tick.C:
		}
		if up, err := n.carrier(); err != nil || up {
			if up {
				n.step(phase, "link", fmt.Sprintf("%s: link up after %s", n.cfg.Interface, time.Since(start).Round(time.Millisecond)))
			}
			return err
		}
	}
}

// carrier reports whether the PXE NIC is up with a carrier.
func (n *node) carrier() (bool, error) {
	ifi, err := net.InterfaceByName(n.cfg.Interface)
	if err != nil {
		return false, fmt.Errorf("link %s: %w", n.cfg.Interface, err)
	}
	return ifi.Flags&net.FlagRunning != 0, nil
}
