package kickstart

import (
	"errors"

	"github.com/provision/provision/provision"
)

// Errors callers can test with errors.Is.
var (
	// ErrAppliance is returned for the appliance's own node (admin01): it
	// is never installed by the appliance, so it has no kickstart.
	ErrAppliance = errors.New("the appliance node is never installed by provision, it has no kickstart")
	// ErrNoPXEAddress is returned for a node with no management address.
	ErrNoPXEAddress = errors.New("no PXE address on the management network")
	// ErrUnsupported is returned for a plan the CentOS 6.5 installer cannot
	// carry out as written.
	ErrUnsupported = errors.New("not supported by the CentOS 6.5 installer")
	// ErrMissingInput is returned when Inputs lacks something a kickstart
	// needs.
	ErrMissingInput = errors.New("missing input")
)

// Inputs is what a kickstart needs beyond the plan: secrets and key
// material the appliance keeps elsewhere.
type Inputs struct {
	// RootPasswordHash is a crypt(3) hash (SHA-512, $6$) for rootpw
	// --iscrypted.
	RootPasswordHash provision.Secret
	// AuthorizedKeys are root's authorized_keys lines: the operators' keys
	// and the appliance's own public key. EL6's OpenSSH 5.3 reads RSA,
	// DSA and ECDSA keys, not ed25519.
	AuthorizedKeys []string
	// HostKeys are the node's SSH host keys, generated in advance so the
	// handoff can verify the node on first contact.
	HostKeys []HostKey
	// Token authenticates the node's callbacks to the appliance.
	Token provision.Secret
	// TreePath is the path of the install tree under the appliance URL; by
	// default DefaultTreePath(node.Image).
	TreePath string
	// Redact replaces the root hash, private keys and token by
	// "[redacted]", for a kickstart shown to a person rather than served
	// to its node.
	Redact bool
}

// HostKey is one SSH host key pair of a node.
type HostKey struct {
	Type    string           // rsa | ecdsa
	Private provision.Secret // PEM, as EL6's sshd reads it
	Public  string           // "ecdsa-sha2-nistp256 AAAA... comment"
}

// DefaultTreePath is where the appliance serves the install tree of an
// image (an image catalog entry such as centos-6.5).
func DefaultTreePath(image string) string { return "/images/" + image }

const redacted = "[redacted]"

func (in Inputs) reveal(s provision.Secret) string {
	if in.Redact {
		return redacted
	}
	return s.Reveal()
}
