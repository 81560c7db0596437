package hostkeys

import (
	"errors"
	"fmt"

	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// ErrNoSecrets is returned when a site was loaded without its secrets file.
var ErrNoSecrets = errors.New("no secrets loaded for the site")

// KickstartInputs gathers what kickstart.Render needs beyond the plan for
// one node: root's password hash and the operators' keys from the site's
// secrets, the appliance's own public key (so the SSH handoff can log in),
// and the node's host keys and callback token from the store. Keys that do
// not exist yet are generated. The result holds secrets: it must never be
// logged (its Secret fields print as [redacted]).
func (s *Store) KickstartInputs(node string, sec *provision.Secrets) (kickstart.Inputs, error) {
	if sec == nil {
		return kickstart.Inputs{}, fmt.Errorf("node %s: %w", node, ErrNoSecrets)
	}
	app, err := s.Appliance()
	if err != nil {
		return kickstart.Inputs{}, fmt.Errorf("node %s: appliance key: %w", node, err)
	}
	pairs, err := s.HostKeys(node)
	if err != nil {
		return kickstart.Inputs{}, err
	}
	tok, err := s.Token(node)
	if err != nil {
		return kickstart.Inputs{}, fmt.Errorf("node %s: token: %w", node, err)
	}
	in := kickstart.Inputs{
		RootPasswordHash: sec.RootPasswordHash,
		AuthorizedKeys:   append(append([]string(nil), sec.SSHAuthorizedKeys...), app.Public),
		Token:            provision.NewSecret(tok),
	}
	for _, p := range pairs {
		in.HostKeys = append(in.HostKeys, kickstart.HostKey{
			Type: p.Type, Private: provision.NewSecret(string(p.Private)), Public: p.Public})
	}
	return in, nil
}
