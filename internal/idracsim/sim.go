package idracsim

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Power states as Redfish spells them.
const (
	PowerOn         = "On"
	PowerOff        = "Off"
	PowerPoweringOn = "PoweringOn"
	PowerOffing     = "PoweringOff"
)

// Config describes one simulated server and its iDRAC. Zero fields take
// the defaults of a Dell R620 with an iDRAC7.
type Config struct {
	// Node names the server; its MACs are derived from it (see MAC).
	Node string
	// User and Password are the only credentials accepted, byte for byte.
	User, Password string
	// NICs are the Redfish ids of the server's ports, by default the four
	// integrated ports NIC.Integrated.1-1-1 .. 1-4-1.
	NICs []string
	// MACs overrides the derived MAC of some NICs, by Redfish id.
	MACs map[string]string
	// PowerDelay is how long the server takes to reach On or Off after a
	// reset request; PoweringOn/PoweringOff is reported meanwhile.
	PowerDelay time.Duration
	// PoweredOn starts the server running.
	PoweredOn bool
	// ResetTypes are the allowed ResetType values. The default is what an
	// R620 on iDRAC7 2.x offers, which has no GracefulRestart.
	ResetTypes []string
	// BootMode is the initial BootSourceOverrideMode (Legacy or UEFI).
	BootMode string
	// MaxSessions is the session limit (iDRAC7/8: 6 for Redfish).
	MaxSessions int
	// SessionTimeout closes a session unused for this long, on the
	// Clock (iDRAC default 30 minutes): how leaked sessions come back.
	SessionTimeout time.Duration
	// Model, ServiceTag, BIOSVersion and Firmware fill the inventory.
	Model, ServiceTag, BIOSVersion, Firmware string
	// OnBoot, when set, is called each time the system starts (power on
	// or restart) with whether this boot goes to PXE (a PXE override is
	// set). It runs on its own goroutine, never under the Sim's lock.
	OnBoot func(pxe bool)
	// OnPowerOff, when set, is called each time the server reaches Off
	// (the lab stops the simulated node). Like OnBoot, on its own
	// goroutine.
	OnPowerOff func()
	// Clock drives power transitions; the wall clock when nil.
	Clock Clock
	// Log receives one line per request at debug level.
	Log *slog.Logger
}

// DefaultResetTypes is what the simulator allows unless told otherwise.
var defaultResetTypes = []string{"On", "ForceOff", "ForceRestart", "GracefulShutdown", "PushPowerButton", "Nmi"}

// Sim is one simulated iDRAC and the server behind it. It is an
// http.Handler and safe for concurrent use.
type Sim struct {
	cfg    Config
	faults faults

	mu                    sync.Mutex
	power                 string
	target                string // BootSourceOverrideTarget
	enabled               string // BootSourceOverrideEnabled
	mode                  string // BootSourceOverrideMode
	modeWrites            int
	jobs                  []job
	sessions              map[string]session // by id
	nextSess              int
	boots                 []Boot
	stopTimer             func() bool
	version               int // bumps on every change, for the ETag
	generation            int // bumps on every power request, to drop stale timers
	requests              int
	inFlight, maxInFlight int
}

// Boot records one start of the simulated server.
type Boot struct {
	PXE  bool
	Time time.Time
}

type job struct {
	ID, Name, State string
}

type session struct {
	id, token, user string
	lastUsed        time.Time
}

// New returns a simulator for cfg.
func New(cfg Config) *Sim {
	if cfg.Node == "" {
		cfg.Node = "node"
	}
	if len(cfg.NICs) == 0 {
		cfg.NICs = []string{"NIC.Integrated.1-1-1", "NIC.Integrated.1-2-1", "NIC.Integrated.1-3-1", "NIC.Integrated.1-4-1"}
	}
	if len(cfg.ResetTypes) == 0 {
		cfg.ResetTypes = defaultResetTypes
	}
	if cfg.BootMode == "" {
		cfg.BootMode = "Legacy"
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 6
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 30 * time.Minute
	}
	if cfg.Model == "" {
		cfg.Model = "PowerEdge R620"
	}
	if cfg.ServiceTag == "" {
		cfg.ServiceTag = serviceTag(cfg.Node)
	}
	if cfg.BIOSVersion == "" {
		cfg.BIOSVersion = "2.9.0"
	}
	if cfg.Firmware == "" {
		cfg.Firmware = "2.65.65.65"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	s := &Sim{cfg: cfg, power: PowerOff, target: "None", enabled: "Disabled", mode: cfg.BootMode,
		sessions: map[string]session{}}
	if cfg.PoweredOn {
		s.power = PowerOn
	}
	return s
}

// MAC returns the simulated MAC of a node's NIC: stable across runs,
// locally administered (02:...), derived from the node name and the NIC's
// Redfish id. The virtual lab gives the same MAC to the node's veth.
func MAC(node, nicID string) net.HardwareAddr {
	h := sha256.Sum256([]byte(node + "/" + nicID))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// serviceTag derives a 7-character Dell-like service tag from the node.
func serviceTag(node string) string {
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
	h := sha256.Sum256([]byte(node))
	var b strings.Builder
	for i := range 7 {
		b.WriteByte(alphabet[int(h[i])%len(alphabet)])
	}
	return b.String()
}

// Node returns the simulated node's name.
func (s *Sim) Node() string { return s.cfg.Node }

// NICMACs returns the MAC of every NIC, by Redfish id.
func (s *Sim) NICMACs() map[string]string {
	out := map[string]string{}
	for _, id := range s.cfg.NICs {
		out[id] = s.macOf(id)
	}
	return out
}

func (s *Sim) macOf(id string) string {
	if m, ok := s.cfg.MACs[id]; ok {
		return strings.ToUpper(m)
	}
	// iDRAC prints MACs upper-case with colons.
	return strings.ToUpper(MAC(s.cfg.Node, id).String())
}

// PowerState returns the current power state.
func (s *Sim) PowerState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.power
}

// BootOverride returns the boot override target, enabled and mode.
func (s *Sim) BootOverride() (target, enabled, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.target, s.enabled, s.mode
}

// ModeWrites counts the PATCHes that carried BootSourceOverrideMode: each
// queued a BIOS job and would cost a real server an extra reboot.
func (s *Sim) ModeWrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modeWrites
}

// Boots returns every start of the server so far.
func (s *Sim) Boots() []Boot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.boots)
}

// Sessions returns the number of open sessions.
func (s *Sim) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireSessions()
	return len(s.sessions)
}

// Requests returns the number of requests answered (faults included).
func (s *Sim) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// AddPendingJob queues a configuration job, as a BIOS change would.
func (s *Sim) AddPendingJob(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, job{ID: s.jobID(), Name: name, State: "Scheduled"})
}

// SetPower forces the power state (for test setup), without a boot.
func (s *Sim) SetPower(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
	if s.stopTimer != nil {
		s.stopTimer()
	}
	s.version++
	s.power = PowerOff
	if on {
		s.power = PowerOn
	}
}

// Close stops a pending power transition.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
	if s.stopTimer != nil {
		s.stopTimer()
	}
}

// jobID names a job as an iDRAC does: JID_ and twelve digits. Called with
// s.mu held.
func (s *Sim) jobID() string {
	return fmt.Sprintf("JID_%012d", s.cfg.Clock.Now().Unix()%1e9*1000+int64(len(s.jobs)))
}

// etag is the system resource's current ETag. Called with s.mu held.
func (s *Sim) etag() string { return fmt.Sprintf(`W/"%d"`, s.version) }

// MaxInFlight returns the most requests the Sim was ever answering at
// once: a client that keeps to one call at a time keeps it at 1.
func (s *Sim) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// expireSessions closes the sessions idle for SessionTimeout. Called with
// s.mu held.
func (s *Sim) expireSessions() {
	now := s.cfg.Clock.Now()
	for id, ss := range s.sessions {
		if now.Sub(ss.lastUsed) >= s.cfg.SessionTimeout {
			delete(s.sessions, id)
		}
	}
}
