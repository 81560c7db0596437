package idracsim

import (
	"net/http"
	"slices"
)

// reset applies a ComputerSystem.Reset action the way an iDRAC does and
// returns the HTTP status and, for an error, its Dell message.
func (s *Sim) reset(resetType string) (int, *dellMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.cfg.ResetTypes, resetType) {
		return http.StatusBadRequest, msgValueNotInList("ResetType", resetType)
	}
	on := s.power == PowerOn || s.power == PowerPoweringOn
	switch resetType {
	case "On":
		if on {
			return http.StatusConflict, msgAlreadyOn
		}
		s.transition(PowerPoweringOn, PowerOn, true)
	case "ForceOff", "GracefulShutdown":
		if !on {
			return http.StatusConflict, msgAlreadyOff
		}
		s.transition(PowerOffing, PowerOff, false)
	case "PushPowerButton":
		if on {
			s.transition(PowerOffing, PowerOff, false)
		} else {
			s.transition(PowerPoweringOn, PowerOn, true)
		}
	case "ForceRestart", "GracefulRestart", "PowerCycle":
		if !on {
			s.transition(PowerPoweringOn, PowerOn, true)
			break
		}
		// An iDRAC keeps reporting On through a warm reset; the server
		// goes through POST again, so this is a boot.
		s.transition(PowerOn, PowerOn, true)
	case "Nmi":
	}
	return http.StatusNoContent, nil
}

// transition moves the power state to via now and to final after the
// configured delay, booting the server at the end when boot is set. Any
// earlier pending transition is dropped. Called with s.mu held.
func (s *Sim) transition(via, final string, boot bool) {
	s.generation++
	gen := s.generation
	if s.stopTimer != nil {
		s.stopTimer()
	}
	s.version++
	s.power = via
	if s.cfg.PowerDelay <= 0 {
		s.finish(final, boot)
		return
	}
	// The timer's goroutine ends after finishing this transition; Close
	// or a newer transition stops it before it fires.
	s.stopTimer = s.cfg.Clock.AfterFunc(s.cfg.PowerDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if gen != s.generation {
			return
		}
		s.finish(final, boot)
	})
}

// finish ends a transition. Called with s.mu held.
func (s *Sim) finish(final string, boot bool) {
	s.version++
	s.power = final
	if !boot {
		if hook := s.cfg.OnPowerOff; hook != nil && final == PowerOff {
			go hook() // ends when the hook returns
		}
		return
	}
	// The override is read by the BIOS at POST; Once is then consumed
	// (Redfish ComputerSystem.v1 Boot: "reset to Disabled after the
	// BootSourceOverrideTarget actions have completed").
	pxe := s.enabled != "Disabled" && s.target == "Pxe"
	if s.enabled == "Once" {
		s.enabled = "Disabled"
	}
	// Scheduled BIOS jobs run during POST.
	for i := range s.jobs {
		if s.jobs[i].State == "Scheduled" {
			s.jobs[i].State = "Completed"
		}
	}
	s.boots = append(s.boots, Boot{PXE: pxe, Time: s.cfg.Clock.Now()})
	if hook := s.cfg.OnBoot; hook != nil {
		// Never call out under the lock: the hook may query the Sim.
		// The goroutine ends when the hook returns.
		go hook(pxe)
	}
}

var allowedTargets = []string{"None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup", "Utilities", "UefiTarget", "SDCard", "UefiHttp"}
var allowedEnabled = []string{"Disabled", "Once", "Continuous"}
var allowedModes = []string{"Legacy", "UEFI"}

// bootPatch is the Boot object of a PATCH to the system.
type bootPatch struct {
	Target  *string `json:"BootSourceOverrideTarget"`
	Enabled *string `json:"BootSourceOverrideEnabled"`
	Mode    *string `json:"BootSourceOverrideMode"`
}

// setBoot applies a Boot PATCH: every value is checked against its
// allowable values before anything changes.
func (s *Sim) setBoot(p bootPatch, ifMatch string) (int, *dellMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// RFC 9110 13.1.1: a stale If-Match fails the request.
	if ifMatch != "" && ifMatch != "*" && ifMatch != s.etag() && "W/"+ifMatch != s.etag() {
		return http.StatusPreconditionFailed, msgPrecondition
	}
	for _, c := range []struct {
		name    string
		v       *string
		allowed []string
	}{
		{"BootSourceOverrideTarget", p.Target, allowedTargets},
		{"BootSourceOverrideEnabled", p.Enabled, allowedEnabled},
		{"BootSourceOverrideMode", p.Mode, allowedModes},
	} {
		if c.v != nil && !slices.Contains(c.allowed, *c.v) {
			return http.StatusBadRequest, msgValueNotInList(c.name, *c.v)
		}
	}
	if p.Mode != nil {
		// On an iDRAC a pending BIOS job blocks another BIOS change.
		for _, j := range s.jobs {
			if j.State == "Scheduled" {
				return http.StatusBadRequest, msgPendingJob
			}
		}
		// The trap: the write queues a BIOS job (and a reboot) even when
		// the value is the same.
		s.modeWrites++
		s.mode = *p.Mode
		s.jobs = append(s.jobs, job{ID: s.jobID(), Name: "Configure: BIOS.Setup.1-1", State: "Scheduled"})
	}
	s.version++
	if p.Target != nil {
		s.target = *p.Target
	}
	if p.Enabled != nil {
		s.enabled = *p.Enabled
	}
	return http.StatusOK, nil
}
