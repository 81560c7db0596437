package bmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/stmcginnis/gofish/schemas"
)

// Preflight is what a rollout needs to know about one iDRAC before it
// starts: every column is filled as far as the iDRAC could be read.
type Preflight struct {
	Node        string   `json:"node"`
	Endpoint    string   `json:"endpoint"`
	Reachable   bool     `json:"reachable"`
	Credentials bool     `json:"credentials"`
	Trust       string   `json:"trust"`
	Firmware    string   `json:"idrac_firmware"`
	Power       string   `json:"power"`
	ResetTypes  []string `json:"reset_types"`
	PXEWritable bool     `json:"pxe_writable"`
	PendingJobs []string `json:"pending_jobs"`
	// Problems says what would stop a rollout; empty means ready.
	Problems []string `json:"problems"`
}

// OK reports whether nothing stops a rollout.
func (p Preflight) OK() bool { return len(p.Problems) == 0 }

// Preflight checks reachability, credentials, the certificate, firmware,
// the ResetTypes a rollout uses, that a PXE override can be written and
// that no configuration job is pending (a pending job blocks a boot mode
// change and reboots the server on its own). It changes nothing.
func (c *Client) Preflight(ctx context.Context) Preflight {
	p := Preflight{Node: c.cfg.Node, Endpoint: c.cfg.Endpoint, Trust: c.trustMode()}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	err := c.do(ctx, "preflight", func(ctx context.Context, s *session) error {
		p.Reachable = true
		sys, err := s.system()
		if err != nil {
			return err
		}
		p.Credentials = true
		p.Power = string(sys.PowerState)
		p.ResetTypes = resetTypes(sys)
		allowed := sys.Boot.AllowableBootSourceOverrideTargetValues
		p.PXEWritable = len(allowed) == 0 || slices.Contains(allowed, schemas.PxeBootSource)
		if p.Firmware, err = s.firmware(); err != nil {
			return err
		}
		p.PendingJobs, err = s.pendingJobs()
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, ErrAuth):
			p.Reachable = true
		case errors.Is(err, ErrCertMismatch):
			p.Reachable = true
		}
		p.Problems = append(p.Problems, err.Error())
	}
	if p.Credentials {
		for _, need := range []string{"On", "ForceOff"} {
			if len(p.ResetTypes) > 0 && !slices.Contains(p.ResetTypes, need) {
				p.Problems = append(p.Problems, "ResetType "+need+" not allowed")
			}
		}
		if !p.PXEWritable {
			p.Problems = append(p.Problems, "BootSourceOverrideTarget Pxe not allowed")
		}
		if old, ok := olderThan(p.Firmware, minFirmware); ok && old {
			p.Problems = append(p.Problems, fmt.Sprintf("iDRAC firmware %s is older than %s, which Dell's iDRAC7/8 Redfish support needs", p.Firmware, minFirmware))
		}
		if len(p.PendingJobs) > 0 {
			p.Problems = append(p.Problems, fmt.Sprintf("%d pending configuration jobs", len(p.PendingJobs)))
		}
	}
	if strings.HasPrefix(p.Trust, "NOT") {
		p.Problems = append(p.Problems, "certificate not verified: run 'provision bmc trust "+c.cfg.Node+"'")
	}
	ok := "true"
	if !p.OK() {
		ok = "false"
	}
	c.emit("preflight", "iDRAC preflight: "+strings.Join(append([]string{"ok=" + ok}, p.Problems...), "; "), map[string]string{"ok": ok, "firmware": p.Firmware})
	return p
}

// jobsPath is Dell's job queue.
const jobsPath = "/redfish/v1/Managers/iDRAC.Embedded.1/Jobs"

// pendingJobs lists the ids of jobs that are scheduled or running. An
// iDRAC without a job queue (other vendors, old firmware) has none.
func (s *session) pendingJobs() ([]string, error) {
	members, err := s.members(jobsPath)
	if err != nil {
		if st := statusOf(err); st == 404 || st == 405 {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the job queue: %w", err)
	}
	var pending []string
	for _, m := range members {
		r, err := s.api.Get(m)
		if err != nil {
			return nil, fmt.Errorf("reading job %s: %w", m, describe(err))
		}
		j, err := parseJob(io.LimitReader(r.Body, maxBody))
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading job %s: %w", m, err)
		}
		if j.pending() {
			pending = append(pending, j.ID)
		}
	}
	return pending, nil
}

// parseCollection returns the member URIs of a Redfish collection.
func parseCollection(r io.Reader) ([]string, error) {
	var c struct {
		Members []struct {
			ID string `json:"@odata.id"`
		}
	}
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return nil, fmt.Errorf("not a Redfish collection: %w", err)
	}
	out := make([]string, 0, len(c.Members))
	for _, m := range c.Members {
		if !strings.HasPrefix(m.ID, "/redfish/") {
			return nil, fmt.Errorf("member %q is not a Redfish path", m.ID)
		}
		out = append(out, m.ID)
	}
	return out, nil
}

// dellJob is the part of a DellJob resource preflight reads.
type dellJob struct {
	ID       string `json:"Id"`
	JobState string
}

func (j dellJob) pending() bool {
	switch j.JobState {
	case "Scheduled", "Running", "New", "Scheduling", "Waiting", "Downloaded", "ReadyForExecution":
		return true
	}
	return false
}

// parseJob reads one DellJob.
func parseJob(r io.Reader) (dellJob, error) {
	var j dellJob
	if err := json.NewDecoder(r).Decode(&j); err != nil {
		return j, fmt.Errorf("not a job: %w", err)
	}
	if j.ID == "" {
		return j, errors.New("job without an Id")
	}
	return j, nil
}

// minFirmware is the iDRAC7/8 firmware Dell's Redfish guide is written
// for; iDRAC9 firmware (3.x and later) is newer.
const minFirmware = "2.40.40.40"

// olderThan compares dotted numeric versions ("2.65.65.65"); ok is false
// when v is not one.
func olderThan(v, than string) (older, ok bool) {
	a, ok := versionParts(v)
	if !ok {
		return false, false
	}
	b, _ := versionParts(than)
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x < y, true
		}
	}
	return false, true
}

func versionParts(v string) ([]int, bool) {
	fields := strings.Split(strings.TrimSpace(v), ".")
	if len(fields) > 8 {
		return nil, false
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 1e6 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
