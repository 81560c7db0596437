package provision

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Secret is a string that never prints: fmt, JSON and slog all see
// "[redacted]". Reveal returns the value for the few places that must use it
// (a kickstart served to its own node, an iDRAC login).
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

const redacted = "[redacted]"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format keeps %v, %s, %q and %#v from printing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps JSON and TOML encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText reads the value from the secrets file.
func (s *Secret) UnmarshalText(b []byte) error { s.v = string(b); return nil }

// Secrets is the secrets file that sits beside a site file.
type Secrets struct {
	RootPasswordHash  Secret                 `toml:"root_password_hash"`
	SSHAuthorizedKeys []string               `toml:"ssh_authorized_keys"`
	IDRAC             Credentials            `toml:"idrac"`
	IDRACNodes        map[string]Credentials `toml:"idrac_node"`
	Extra             map[string]Secret      `toml:"extra"`
	File              string                 `toml:"-"`
}

// Credentials of an iDRAC.
type Credentials struct {
	User     string `toml:"user"`
	Password Secret `toml:"password"`
}

// IDRACFor returns the iDRAC credentials of a node: its own, else the
// site-wide ones.
func (s *Secrets) IDRACFor(node string) Credentials {
	if s == nil {
		return Credentials{}
	}
	if c, ok := s.IDRACNodes[node]; ok {
		return c
	}
	return s.IDRAC
}

// ErrSecretsMode is returned for a secrets file others can read.
var ErrSecretsMode = errors.New("secrets file is readable by group or others")

// LoadSecrets reads a secrets file. It refuses a file whose mode lets
// group or others read or write it.
func LoadSecrets(path string) (*Secrets, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: %w (run: chmod 600 %s)", path, fi.Mode().Perm(), ErrSecretsMode, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	var s Secrets
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&s)
	if err != nil {
		// The parse error quotes the offending line, which may hold a
		// secret: report only the position.
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: secrets file is not valid TOML", path, pe.Position.Line, pe.Position.Col)
		}
		return nil, fmt.Errorf("%s: secrets file is not valid TOML", path)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown keys in secrets file: %s", path, strings.Join(keys, ", "))
	}
	s.File = path
	return &s, nil
}
