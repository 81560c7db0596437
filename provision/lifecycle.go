package provision

import (
	"fmt"
	"sort"
	"time"
)

// State is where a node is in its install. States are derived from the
// node's events by Fold, never stored on their own, so a restarted
// appliance recomputes them from the event log and loses nothing.
type State string

// Node states, in the order an install goes through them.
const (
	StateNew        State = "new"         // known to the site, nothing done yet
	StateDiscovered State = "discovered"  // MACs read from the iDRAC
	StatePXESet     State = "pxe-set"     // one-time PXE boot set
	StatePoweringOn State = "powering-on" // power on or cycle sent
	StateDHCP       State = "dhcp"        // the firmware got its lease
	StateBooting    State = "booting"     // boot loader, script, kernel fetched
	StateInstalling State = "installing"  // the kickstart was fetched
	StateInstalled  State = "installed"   // the installer called back; netboot is off
	StateRebooting  State = "rebooting"   // the node reboots into its new system
	StateHandoff    State = "handoff"     // SSH answered; the role profile runs
	StateReady      State = "ready"       // profile applied
	StateFailed     State = "failed"      // see the reason
)

// States lists every state in install order, failed last.
var states = []State{StateNew, StateDiscovered, StatePXESet, StatePoweringOn, StateDHCP,
	StateBooting, StateInstalling, StateInstalled, StateRebooting, StateHandoff, StateReady, StateFailed}

// States returns every state in install order, failed last.
func States() []State { return append([]State(nil), states...) }

// Busy reports whether a node in this state is in the middle of an
// install: an operation holds it and nobody else may power or reinstall it.
func (s State) Busy() bool {
	switch s {
	case StateNew, StateDiscovered, StateReady, StateFailed, "":
		return false
	}
	return true
}

// Event sources and the kinds that move a node through its install. Other
// kinds (bmc status, preflight, mac-conflict ...) are recorded but leave
// the state as it is.
const (
	SourceDHCP     = "dhcp"
	SourceTFTP     = "tftp"
	SourceHTTP     = "http"
	SourceBMC      = "bmc"
	SourceCallback = "callback"
	SourceRollout  = "rollout"
	SourceSSH      = "ssh"
	SourceProfile  = "profile"
	SourceOperator = "operator"

	KindBegin      = "begin"       // rollout: an install attempt starts
	KindDiscovered = "discovered"  // bmc: MACs read
	KindPXESet     = "pxe-set"     // bmc: one-time PXE set
	KindPower      = "power"       // bmc: power action (attrs action, state)
	KindLease      = "lease"       // dhcp: address handed out
	KindTransfer   = "transfer"    // tftp: a file sent
	KindBootScript = "boot-script" // http: iPXE script served
	KindKickstart  = "kickstart"   // http: kickstart served to its node
	KindProgress   = "progress"    // callback: %pre, %post, install steps
	KindInstalled  = "installed"   // callback: install finished
	KindRebooting  = "rebooting"   // rollout: waiting for the new system
	KindSSHUp      = "ssh-up"      // ssh: the installed system answers
	KindApplied    = "applied"     // profile: role profile applied
	KindFailed     = "failed"      // any: the attempt failed, Msg says why
	KindForget     = "forget"      // operator: forget the node's state (rebuild)
)

// trigger is what an event means to the state machine.
type trigger string

// transitions is the state machine: for each trigger, the states it may
// come from and the state it leads to. A trigger from any other state is
// refused. Self-loops (a second DHCP lease while booting, more files) are
// listed explicitly.
var transitions = map[trigger]struct {
	from []State
	to   State // "" keeps the current state
}{
	"discovered": {[]State{StateNew, StateDiscovered}, StateDiscovered},
	"pxe-set":    {[]State{StateNew, StateDiscovered, StatePXESet}, StatePXESet},
	"power-on":   {[]State{StatePXESet, StatePoweringOn}, StatePoweringOn},
	// A node set to PXE that DHCPs is powered, whether or not the BMC's
	// power event (recorded once the iDRAC reports On) came first.
	"lease":       {[]State{StatePXESet, StatePoweringOn, StateDHCP}, StateDHCP},
	"lease-again": {[]State{StateBooting, StateInstalling, StateInstalled, StateRebooting}, ""},
	// A lease event may be lost (the DHCP server drops events rather than
	// answers under a storm): a boot file or kickstart fetched is evidence
	// enough of the steps before it.
	"boot-file":  {[]State{StatePXESet, StatePoweringOn, StateDHCP, StateBooting}, StateBooting},
	"boot-local": {[]State{StateInstalled, StateRebooting}, ""},
	"kickstart":  {[]State{StateDHCP, StateBooting, StateInstalling}, StateInstalling},
	// An install started by hand: netboot turned on with no rollout
	// (provision netboot on, or the site's netboot for a node never
	// installed) and the node powered by the operator. Its kickstart,
	// served only while its netboot is on, to its own address with its
	// token, is where the installer starts on its disks: until then the
	// node stays where it was (its lease and boot files are no install
	// yet: netboot may go off before the kickstart); from then on it is
	// installing, and a rollout that finds it resumes it rather than
	// starting over.
	"kickstart-by-hand": {[]State{StateNew, StateDiscovered, StateReady, StateFailed}, StateInstalling},
	"progress":          {[]State{StateInstalling}, ""},
	"installed":         {[]State{StateInstalling}, StateInstalled},
	"rebooting":         {[]State{StateInstalled}, StateRebooting},
	// A ready node's profile may be run again (provision profile NODE).
	"ssh-up":  {[]State{StateInstalled, StateRebooting, StateHandoff, StateReady}, StateHandoff},
	"applied": {[]State{StateHandoff}, StateReady},
	"failed": {[]State{StateNew, StateDiscovered, StatePXESet, StatePoweringOn, StateDHCP,
		StateBooting, StateInstalling, StateInstalled, StateRebooting, StateHandoff}, StateFailed},
}

// triggerOf says what an event means to the state machine; "" for an
// event that does not move the node.
func triggerOf(e Event, cur State) trigger {
	switch e.Kind {
	case KindDiscovered:
		if e.Source == SourceBMC {
			return "discovered"
		}
	case KindPXESet:
		if cur == StateReady || cur == StateFailed {
			// An operator's `provision bmc pxe`: a rollout sets PXE
			// only after its begin event made the node new.
			return ""
		}
		return "pxe-set"
	case KindPower:
		switch e.Attrs["action"] {
		case "on", "cycle", "force-restart", "restart":
			if !cur.Busy() {
				// An operator's `provision bmc on|cycle` (a rollout
				// powers a node only once PXE is set): the node's lease
				// and boot files tell what it does.
				return ""
			}
			if cur.Rank() > StatePoweringOn.Rank() {
				// The node booted before the BMC call returned: the
				// power event comes after its lease.
				return ""
			}
			return "power-on"
		}
	case KindLease:
		switch {
		case cur == StatePXESet || cur == StatePoweringOn || cur == StateDHCP:
			return "lease"
		case bootsOutsideInstall(cur):
			return ""
		}
		return "lease-again"
	case KindTransfer, KindBootScript:
		switch {
		case cur == StateInstalled || cur == StateRebooting:
			return "boot-local"
		case bootsOutsideInstall(cur):
			return ""
		}
		return "boot-file"
	case KindKickstart:
		if !cur.Busy() {
			return "kickstart-by-hand"
		}
		return "kickstart"
	case KindProgress:
		return "progress"
	case KindInstalled, KindRebooting, KindApplied, KindFailed:
		return trigger(e.Kind)
	case KindSSHUp:
		return "ssh-up"
	}
	return ""
}

// bootsOutsideInstall says whether a node in state cur that DHCPs or
// fetches boot files does so outside any install, which leaves its state
// as it is: a node no install holds (a firmware that tries PXE before
// its disk on every boot, a node powered by hand, one whose netboot an
// operator turned on and that has not fetched its kickstart yet), or one
// whose profile reboots it.
func bootsOutsideInstall(cur State) bool {
	return !cur.Busy() || cur == StateHandoff
}

// Status is a node's state as folded from its events.
type Status struct {
	Node  string    `json:"node"`
	State State     `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Reason says why the node failed.
	Reason string `json:"reason,omitempty"`
	// Attempt counts install attempts (begin events, and installs
	// started by hand) since the last forget.
	Attempt int `json:"attempt"`
	// Retries counts the attempts of the current install that began
	// after a failed one: 0 for an install begun from new or ready
	// (a first install, a reinstall), whose attempts Attempt counts on.
	Retries int `json:"retries"`
	// ByHand says the current install was started by hand, not by a
	// rollout: the node fetched its kickstart while no install held it.
	ByHand bool `json:"by_hand,omitempty"`
	// Last is the last event that moved the node.
	Last Event `json:"last,omitzero"`
	// Refused counts events that were illegal in the state they came in.
	Refused int `json:"refused,omitempty"`
}

// IllegalTransition is an event that does not fit the node's state: a
// stale callback, a replayed request, a bug. It is logged and leaves the
// state as it is.
type IllegalTransition struct {
	Node  string
	State State
	Event Event
}

func (e *IllegalTransition) Error() string {
	return fmt.Sprintf("node %s: %s/%s event not allowed in state %s", e.Node, e.Event.Source, e.Event.Kind, e.State)
}

// Apply moves st by one event and returns the new status. An event that
// is illegal in the current state returns an *IllegalTransition and st
// with Refused counted; an informational event returns st unchanged.
func Apply(st Status, e Event) (Status, error) {
	if st.State == "" {
		st.State = StateNew
	}
	switch {
	case e.Kind == KindForget && (e.Source == SourceOperator || e.Source == SourceRollout):
		return Status{Node: st.Node, State: StateNew, Since: e.Time, Last: e}, nil
	case e.Kind == KindBegin && e.Source == SourceRollout:
		if st.State.Busy() {
			st.Refused++
			return st, &IllegalTransition{Node: st.Node, State: st.State, Event: e}
		}
		return Status{Node: st.Node, State: StateNew, Since: e.Time, Attempt: st.Attempt + 1, Retries: st.retriesNext(),
			Last: e, Refused: st.Refused}, nil
	}
	tr := triggerOf(e, st.State)
	if tr == "" {
		return st, nil
	}
	t := transitions[tr]
	allowed := false
	for _, s := range t.from {
		if s == st.State {
			allowed = true
			break
		}
	}
	if !allowed {
		st.Refused++
		return st, &IllegalTransition{Node: st.Node, State: st.State, Event: e}
	}
	retries := st.retriesNext() // before the state moves
	if t.to != "" && t.to != st.State {
		st.State = t.to
		st.Since = e.Time
	}
	if t.to == StateFailed {
		st.Reason = e.Msg
	}
	if tr == "kickstart-by-hand" {
		st.Attempt++
		st.Retries = retries
		st.ByHand = true
		st.Reason = ""
	}
	st.Last = e
	return st, nil
}

// retriesNext is Retries for an attempt that begins now: one more after
// a failed attempt, else none.
func (st Status) retriesNext() int {
	if st.State == StateFailed {
		return st.Retries + 1
	}
	return 0
}

// Fold derives every node's status from an event log in order. Nodes of
// the plan with no events are new. Illegal events are passed to refused
// (may be nil) and otherwise skipped.
func Fold(plan *Plan, events []Event, refused func(error)) map[string]Status {
	out := make(map[string]Status)
	if plan != nil {
		for _, n := range plan.Nodes {
			out[n.Name] = Status{Node: n.Name, State: StateNew}
		}
	}
	for _, e := range events {
		if e.Node == "" {
			continue
		}
		st, ok := out[e.Node]
		if !ok {
			st = Status{Node: e.Node, State: StateNew}
		}
		st, err := Apply(st, e)
		if err != nil && refused != nil {
			refused(err)
		}
		out[e.Node] = st
	}
	return out
}

// SortedStatuses returns statuses ordered by rollout stage, then name.
func SortedStatuses(plan *Plan, m map[string]Status) []Status {
	out := make([]Status, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	stage := func(name string) int {
		if plan == nil {
			return 0
		}
		if n, ok := plan.Node(name); ok {
			return n.Stage
		}
		return 1 << 30
	}
	sort.Slice(out, func(i, j int) bool {
		si, sj := stage(out[i].Node), stage(out[j].Node)
		if si != sj {
			return si < sj
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// Rank orders the states of an install: new is 0, ready is 10, failed
// comes last (11); an unknown state is -1.
func (s State) Rank() int {
	for i, x := range states {
		if x == s {
			return i
		}
	}
	return -1
}
