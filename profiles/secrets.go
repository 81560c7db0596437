package profiles

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/provision/provision/provision"
)

// secretSpec says how one generated secret is made.
type secretSpec struct {
	name     string
	length   int
	alphabet string
}

const (
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// secretSpecs lists every secret the profiles use. The VRRP password is 8
// characters: VRRPv2 PASS authentication carries no more (RFC 2338 5.3.10,
// keepalived truncates). The Erlang cookie is upper-case letters, as
// RabbitMQ makes its own.
func secretSpecs() []secretSpec {
	s := []secretSpec{
		{"vrrp", 8, alnum},
		{"erlang-cookie", 20, upper},
	}
	for _, n := range []string{
		"mysql-root", "db-keystone", "db-glance", "db-nova", "db-cinder", "db-neutron", "db-zabbix",
		"rabbit-openstack", "keystone-admin-token", "keystone-admin",
		"svc-glance", "svc-nova", "svc-cinder", "svc-neutron", "svc-swift",
		"metadata-secret", "swift-hash-prefix", "swift-hash-suffix", "haproxy-stats",
		"horizon-secret-key",
	} {
		s = append(s, secretSpec{n, 32, alnum})
	}
	return s
}

// Secrets are the profiles' generated secrets. They print as [redacted].
type Secrets struct {
	m map[string]provision.Secret
}

// NewSecrets wraps values, by name (tests and the state file).
func NewSecrets(values map[string]string) Secrets {
	m := make(map[string]provision.Secret, len(values))
	for k, v := range values {
		m[k] = provision.NewSecret(v)
	}
	return Secrets{m: m}
}

// Get returns a secret by name.
func (s Secrets) Get(name string) (provision.Secret, bool) {
	v, ok := s.m[name]
	return v, ok
}

// Names lists every secret name the profiles use.
func Names() []string {
	var out []string
	for _, s := range secretSpecs() {
		out = append(out, s.name)
	}
	return out
}

func (s Secrets) reveal() map[string]string {
	out := make(map[string]string, len(s.m))
	for k, v := range s.m {
		out[k] = v.Reveal()
	}
	return out
}

// SecretsFile is where the generated secrets are kept under the state
// directory.
func SecretsFile(stateDir string) string {
	return filepath.Join(stateDir, "profiles", "secrets.json")
}

// LoadSecrets reads the generated secrets from the state directory and
// generates, once, those that are missing, writing the file back (mode
// 0600, atomically). A secret of the same name in the site's secrets file
// ([extra]) takes precedence and is never written to the state file.
func LoadSecrets(stateDir string, extra map[string]provision.Secret) (Secrets, error) {
	path := SecretsFile(stateDir)
	stored := map[string]string{}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			return Secrets{}, fmt.Errorf("%s: mode %04o: %w", path, fi.Mode().Perm(), provision.ErrSecretsMode)
		}
		if err := json.Unmarshal(data, &stored); err != nil {
			// The decoder's message may quote the file: keep only where.
			return Secrets{}, fmt.Errorf("%s: generated secrets file is not valid JSON", path)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return Secrets{}, fmt.Errorf("profiles: secrets: %w", err)
	}
	changed := false
	for _, spec := range secretSpecs() {
		if v, ok := stored[spec.name]; ok && v != "" {
			continue
		}
		v, err := randomString(spec.length, spec.alphabet)
		if err != nil {
			return Secrets{}, err
		}
		stored[spec.name] = v
		changed = true
	}
	if changed {
		out, err := json.MarshalIndent(stored, "", "  ")
		if err != nil {
			return Secrets{}, fmt.Errorf("profiles: secrets: %w", err)
		}
		if err := writeAtomic(path, append(out, '\n')); err != nil {
			return Secrets{}, err
		}
	}
	s := NewSecrets(stored)
	for k, v := range extra {
		if _, ok := s.m[k]; ok && !v.IsZero() {
			s.m[k] = v
		}
	}
	return s, nil
}

// randomString returns n characters of alphabet, uniformly (rejection
// sampling), from crypto/rand.
func randomString(n int, alphabet string) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("profiles: random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// writeAtomic writes data to path, mode 0600, in a 0700 directory,
// through a synced temp file renamed into place.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("profiles: write %s: %w", path, err)
	}
	return nil
}
