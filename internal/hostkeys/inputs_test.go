package hostkeys

import (
	"errors"
	"strings"
	"testing"

	"github.com/provision/provision/provision"
)

// TestKickstartInputs: the inputs carry the site's root hash and operator
// keys, the appliance's public key, the node's host keys and its token,
// and are the same on a second call (keys are generated once).
func TestKickstartInputs(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sec := &provision.Secrets{
		RootPasswordHash:  provision.NewSecret("$6$salt$hash"),
		SSHAuthorizedKeys: []string{"ssh-rsa AAAAoperator op@example"},
	}
	in, err := s.KickstartInputs("compute01", sec)
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.Appliance()
	if err != nil {
		t.Fatal(err)
	}
	if in.RootPasswordHash.Reveal() != "$6$salt$hash" {
		t.Errorf("root hash not passed through")
	}
	if len(in.AuthorizedKeys) != 2 || in.AuthorizedKeys[0] != sec.SSHAuthorizedKeys[0] || in.AuthorizedKeys[1] != app.Public {
		t.Errorf("authorized keys = %q, want the operator's then the appliance's", in.AuthorizedKeys)
	}
	if len(in.HostKeys) != 2 || in.HostKeys[0].Type != "rsa" || in.HostKeys[1].Type != "ecdsa" ||
		!strings.Contains(in.HostKeys[0].Private.Reveal(), "RSA PRIVATE KEY") {
		t.Errorf("host keys: %d, want rsa and ecdsa PEM keys", len(in.HostKeys))
	}
	if !s.Verify("compute01", in.Token.Reveal()) {
		t.Errorf("token does not verify")
	}
	again, err := s.KickstartInputs("compute01", sec)
	if err != nil {
		t.Fatal(err)
	}
	if again.HostKeys[0].Public != in.HostKeys[0].Public || again.Token.Reveal() != in.Token.Reveal() {
		t.Errorf("second call gave other keys or token")
	}
	if _, err := s.KickstartInputs("compute01", nil); !errors.Is(err, ErrNoSecrets) {
		t.Errorf("nil secrets: error %v, want ErrNoSecrets", err)
	}
	if _, err := s.KickstartInputs("../etc", sec); !errors.Is(err, ErrBadNode) {
		t.Errorf("bad node name: error %v, want ErrBadNode", err)
	}
}
