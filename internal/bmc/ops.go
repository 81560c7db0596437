package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/provision/provision/provision"
	"github.com/stmcginnis/gofish/schemas"
)

// Dell's resource ids; other vendors' first system is used when these are
// absent.
const (
	dellSystemID  = "System.Embedded.1"
	dellManagerID = "iDRAC.Embedded.1"
)

// Status is what an iDRAC says about its server.
type Status struct {
	Node        string   `json:"node"`
	Endpoint    string   `json:"endpoint"`
	Model       string   `json:"model"`
	ServiceTag  string   `json:"service_tag"`
	BIOS        string   `json:"bios"`
	Firmware    string   `json:"idrac_firmware"`
	Power       string   `json:"power"`
	BootTarget  string   `json:"boot_target"`
	BootEnabled string   `json:"boot_enabled"`
	BootMode    string   `json:"boot_mode"`
	Health      string   `json:"health"`
	ResetTypes  []string `json:"reset_types"`
}

// system returns the Dell system (System.Embedded.1), else the first
// system listed. It is read on its own rather than through the collection,
// whose errors gofish flattens into text.
func (s *session) system() (*schemas.ComputerSystem, error) {
	sys, err := schemas.GetComputerSystem(s.api, "/redfish/v1/Systems/"+dellSystemID)
	if err == nil || statusOf(err) != http.StatusNotFound {
		if err != nil {
			return nil, fmt.Errorf("reading the system: %w", describe(err))
		}
		return sys, nil
	}
	uris, err := s.members("/redfish/v1/Systems")
	if err != nil {
		return nil, fmt.Errorf("reading systems: %w", err)
	}
	if len(uris) == 0 {
		return nil, errors.New("the iDRAC lists no system")
	}
	if sys, err = schemas.GetComputerSystem(s.api, uris[0]); err != nil {
		return nil, fmt.Errorf("reading the system: %w", describe(err))
	}
	return sys, nil
}

// firmware returns the iDRAC's firmware version.
func (s *session) firmware() (string, error) {
	m, err := schemas.GetManager(s.api, "/redfish/v1/Managers/"+dellManagerID)
	if err == nil {
		return m.FirmwareVersion, nil
	}
	if statusOf(err) != http.StatusNotFound {
		return "", fmt.Errorf("reading the manager: %w", describe(err))
	}
	uris, err := s.members("/redfish/v1/Managers")
	if err != nil || len(uris) == 0 {
		return "", err
	}
	if m, err = schemas.GetManager(s.api, uris[0]); err != nil {
		return "", fmt.Errorf("reading the manager: %w", describe(err))
	}
	return m.FirmwareVersion, nil
}

// members reads a collection's member URIs.
func (s *session) members(uri string) ([]string, error) {
	resp, err := s.api.Get(uri)
	if err != nil {
		return nil, describe(err)
	}
	defer resp.Body.Close()
	return parseCollection(io.LimitReader(resp.Body, maxBody))
}

func resetTypes(sys *schemas.ComputerSystem) []string {
	rts, _ := sys.GetSupportedResetTypes()
	out := make([]string, len(rts))
	for i, r := range rts {
		out[i] = string(r)
	}
	return out
}

// Status reads the server's inventory, power and boot override.
func (c *Client) Status(ctx context.Context) (Status, error) {
	st := Status{Node: c.cfg.Node, Endpoint: c.cfg.Endpoint}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	err := c.do(ctx, "status", func(ctx context.Context, s *session) error {
		sys, err := s.system()
		if err != nil {
			return err
		}
		st.Model, st.ServiceTag, st.BIOS = sys.Model, sys.SKU, sys.BiosVersion
		if st.ServiceTag == "" {
			st.ServiceTag = sys.SerialNumber
		}
		st.Power = string(sys.PowerState)
		st.BootTarget = string(sys.Boot.BootSourceOverrideTarget)
		st.BootEnabled = string(sys.Boot.BootSourceOverrideEnabled)
		st.BootMode = string(sys.Boot.BootSourceOverrideMode)
		st.Health = string(sys.Status.Health)
		st.ResetTypes = resetTypes(sys)
		st.Firmware, err = s.firmware()
		return err
	})
	if err != nil {
		return st, err
	}
	c.emit("bmc-status", "read iDRAC status", map[string]string{"power": st.Power, "firmware": st.Firmware})
	return st, nil
}

// Discovery is the result of reading a node's NIC MACs.
type Discovery struct {
	Node string `json:"node"`
	// MACs by NIC name (em1 ...), lower-case.
	MACs map[string]string `json:"macs"`
	// Missing lists planned NICs the iDRAC did not report.
	Missing []string `json:"missing,omitempty"`
	// Extra lists Redfish ids of NICs the plan does not name.
	Extra []string `json:"extra,omitempty"`
	// Conflicts are NICs whose MAC in the site file differs from the
	// discovered one.
	Conflicts []Conflict `json:"conflicts,omitempty"`
}

// Conflict is a site-file MAC the hardware contradicts.
type Conflict struct {
	NIC        string `json:"nic"`
	Site       string `json:"site"`
	Discovered string `json:"discovered"`
}

// Discover reads the MAC of every NIC from EthernetInterfaces and names it
// by matching its Redfish id (NIC.Integrated.1-1-1 ...) against the planned
// NICs: never by position, since an iDRAC lists them in no promised order.
func (c *Client) Discover(ctx context.Context, nics []provision.NIC) (Discovery, error) {
	d := Discovery{Node: c.cfg.Node, MACs: map[string]string{}}
	byID := map[string]provision.NIC{}
	for _, n := range nics {
		byID[n.RedfishID] = n
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	err := c.do(ctx, "discover", func(ctx context.Context, s *session) error {
		sys, err := s.system()
		if err != nil {
			return err
		}
		uris, err := s.members(sys.ODataID + "/EthernetInterfaces")
		if err != nil {
			return fmt.Errorf("reading EthernetInterfaces: %w", err)
		}
		for _, uri := range uris {
			e, err := schemas.GetEthernetInterface(s.api, uri)
			if err != nil {
				return fmt.Errorf("reading %s: %w", uri, describe(err))
			}
			n, ok := byID[e.ID]
			if !ok {
				d.Extra = append(d.Extra, e.ID)
				continue
			}
			raw := e.PermanentMACAddress
			if raw == "" {
				raw = e.MACAddress
			}
			mac, err := provision.ParseMAC(raw)
			if err != nil {
				return fmt.Errorf("NIC %s (%s): MAC %q: %w", n.Name, e.ID, raw, err)
			}
			d.MACs[n.Name] = mac
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	for _, n := range nics {
		got, ok := d.MACs[n.Name]
		switch {
		case !ok:
			d.Missing = append(d.Missing, n.Name+" ("+n.RedfishID+")")
		case n.MAC != "" && !strings.EqualFold(n.MAC, got):
			d.Conflicts = append(d.Conflicts, Conflict{NIC: n.Name, Site: strings.ToLower(n.MAC), Discovered: got})
		}
	}
	slices.Sort(d.Extra)
	attrs := map[string]string{}
	for name, mac := range d.MACs {
		attrs[name] = mac
	}
	c.emit("discovered", fmt.Sprintf("read %d NIC MACs from the iDRAC", len(d.MACs)), attrs)
	for _, cf := range d.Conflicts {
		c.emit("mac-conflict", fmt.Sprintf("%s: site file says %s, hardware says %s", cf.NIC, cf.Site, cf.Discovered),
			map[string]string{"nic": cf.NIC, "site": cf.Site, "discovered": cf.Discovered})
	}
	return d, nil
}

// PXE sets a one-time PXE boot. mode ("Legacy" or "UEFI") is written only
// when the system's BootSourceOverrideMode differs: on an iDRAC that write
// queues a BIOS job and costs an extra reboot. An empty mode leaves it.
func (c *Client) PXE(ctx context.Context, mode string) error {
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	return c.do(ctx, "pxe", func(ctx context.Context, s *session) error {
		sys, err := s.system()
		if err != nil {
			return err
		}
		b := sys.Boot
		if allowed := b.AllowableBootSourceOverrideTargetValues; len(allowed) > 0 && !slices.Contains(allowed, schemas.PxeBootSource) {
			return fmt.Errorf("BootSourceOverrideTarget Pxe: %w (allowed: %v)", ErrNotAllowed, allowed)
		}
		if b.BootSourceOverrideTarget == schemas.PxeBootSource && b.BootSourceOverrideEnabled == schemas.OnceBootSourceOverrideEnabled &&
			(mode == "" || strings.EqualFold(string(b.BootSourceOverrideMode), mode)) {
			c.emit("pxe-set", "one-time PXE already set", map[string]string{"changed": "false"})
			return nil
		}
		boot := map[string]string{"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}
		attrs := map[string]string{"changed": "true"}
		if mode != "" && !strings.EqualFold(string(b.BootSourceOverrideMode), mode) {
			boot["BootSourceOverrideMode"] = mode
			attrs["mode"] = mode
			attrs["mode_was"] = string(b.BootSourceOverrideMode)
		}
		resp, err := s.api.Patch(sys.ODataID, map[string]any{"Boot": boot})
		if resp != nil {
			resp.Body.Close()
		}
		if err != nil {
			return fmt.Errorf("setting one-time PXE: %w", describe(err))
		}
		msg := "one-time PXE set"
		if _, ok := boot["BootSourceOverrideMode"]; ok {
			msg += fmt.Sprintf(" (boot mode %s -> %s: the iDRAC queued a BIOS job)", attrs["mode_was"], mode)
		}
		c.emit("pxe-set", msg, attrs)
		return nil
	})
}

// Action is a power action.
type Action string

// Power actions.
const (
	On       Action = "on"
	Off      Action = "off"
	Shutdown Action = "shutdown"
	Cycle    Action = "cycle"
)

// ParseAction reads a power action as the operator types it.
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case On, Off, Shutdown, Cycle:
		return a, nil
	}
	return "", fmt.Errorf("power action %q: want on, off, shutdown or cycle", s)
}

// isOn counts a server on its way up as on: asking it to start again
// would be refused (PSU501).
func isOn(p schemas.PowerState) bool {
	return p == schemas.OnPowerState || p == schemas.PoweringOnPowerState
}

// Power reads the power state, picks the ResetTypes the system allows for
// the action and runs them as a job: each step is skipped when its state
// already holds, else reset and waited for (up to Timeouts.Power).
func (c *Client) Power(ctx context.Context, action Action) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeouts.Operation+c.cfg.Timeouts.Power)
	defer cancel()
	return c.do(ctx, "power "+string(action), func(ctx context.Context, s *session) error {
		sys, err := s.system()
		if err != nil {
			return err
		}
		allowed := resetTypes(sys)
		resets, err := chooseResets(action, sys.PowerState, allowed)
		if err != nil {
			return err
		}
		for _, rt := range resets {
			if len(allowed) > 0 && !slices.Contains(allowed, string(rt)) {
				return fmt.Errorf("ResetType %s: %w (allowed: %s)", rt, ErrNotAllowed, strings.Join(allowed, ", "))
			}
		}
		var steps []step
		for _, rt := range resets {
			target := schemas.OnPowerState
			if rt == schemas.ForceOffResetType || rt == schemas.GracefulShutdownResetType {
				target = schemas.OffPowerState
			}
			st := step{
				name:          "ResetType " + string(rt),
				run:           func(ctx context.Context, s *session) error { return s.reset(sys, rt) },
				wait:          c.cfg.Timeouts.Power,
				kind:          "power",
				ran:           fmt.Sprintf("power %s: %s, now %s", action, rt, target),
				skipped:       fmt.Sprintf("power %s: already %s", action, target),
				attrs:         map[string]string{"action": string(action), "reset": string(rt), "state": string(target), "from": string(sys.PowerState)},
				verifyNotDone: "power state is not " + string(target),
			}
			// A restart keeps the state On: there is nothing to check
			// before or after it.
			if rt != schemas.ForceRestartResetType && rt != schemas.PowerCycleResetType {
				st.done = powerIs(sys.ODataID, target)
			}
			steps = append(steps, st)
		}
		return s.runSteps(ctx, steps)
	})
}

// chooseResets picks the ResetTypes of an action from the power state:
// On when off; ForceRestart (else PowerCycle, else ForceOff and On) to
// cycle a running server.
func chooseResets(action Action, state schemas.PowerState, allowed []string) ([]schemas.ResetType, error) {
	switch action {
	case On:
		return []schemas.ResetType{schemas.OnResetType}, nil
	case Off:
		return []schemas.ResetType{schemas.ForceOffResetType}, nil
	case Shutdown:
		return []schemas.ResetType{schemas.GracefulShutdownResetType}, nil
	case Cycle:
		switch {
		case !isOn(state):
			return []schemas.ResetType{schemas.OnResetType}, nil
		case len(allowed) == 0 || slices.Contains(allowed, string(schemas.ForceRestartResetType)):
			return []schemas.ResetType{schemas.ForceRestartResetType}, nil
		case slices.Contains(allowed, string(schemas.PowerCycleResetType)):
			return []schemas.ResetType{schemas.PowerCycleResetType}, nil
		}
		return []schemas.ResetType{schemas.ForceOffResetType, schemas.OnResetType}, nil
	}
	return nil, fmt.Errorf("power action %q: %w", action, ErrNotAllowed)
}

// powerIs is a step's check that the system's power state is want.
func powerIs(uri string, want schemas.PowerState) func(context.Context, *session) (bool, error) {
	return func(_ context.Context, s *session) (bool, error) {
		cur, err := schemas.GetComputerSystem(s.api, uri)
		if err != nil {
			return false, describe(err)
		}
		return cur.PowerState == want, nil
	}
}

// reset posts one ResetType. A 409 that says the server already is where
// the reset would take it (PSU501 already on, PSU502 already off) is what
// was wanted.
func (s *session) reset(sys *schemas.ComputerSystem, rt schemas.ResetType) error {
	_, err := sys.Reset(rt)
	if err == nil {
		return nil
	}
	if statusOf(err) == http.StatusConflict && (hasMessageID(err, "PSU501") || hasMessageID(err, "PSU502")) {
		return nil
	}
	if statusOf(err) == http.StatusNotFound {
		return fmt.Errorf("ResetType %s: %w (a 404 on the Reset action can mean Redfish is disabled or the firmware too old)", rt, describe(err))
	}
	return fmt.Errorf("ResetType %s: %w", rt, describe(err))
}
