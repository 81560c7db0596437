package profiles

import (
	"time"

	"github.com/provision/provision/provision"
)

// LoadInputs gathers a site's Inputs from the state directory: the
// generated secrets (made once; extra, the site secrets file's [extra],
// overrides them by name), the OpenVPN PKI (made once) and a zone serial
// from now. The result holds secrets: never log it.
func LoadInputs(stateDir string, plan *provision.Plan, extra map[string]provision.Secret, now time.Time) (Inputs, error) {
	sec, err := LoadSecrets(stateDir, extra)
	if err != nil {
		return Inputs{}, err
	}
	pki, err := OpenPKI(stateDir, plan.Site.Name, now)
	if err != nil {
		return Inputs{}, err
	}
	return Inputs{Secrets: sec, VPN: pki.Server(), Serial: uint32(now.Unix())}, nil
}
