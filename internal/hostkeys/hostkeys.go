// Package hostkeys keeps the appliance's long-lived key material under its
// state directory: the appliance's own SSH key pair (root on every node
// trusts it), each node's SSH host keys (generated before the node is
// installed, so the SSH handoff knows them and never trusts on first use),
// and the site key that per-node callback tokens are derived from.
//
// Layout under STATE/keys (directories 0700, files 0600):
//
//	appliance_rsa, appliance_rsa.pub   the appliance's SSH key pair
//	site.key                           32 random bytes, hex
//	nodes/NODE/ssh_host_rsa_key[.pub]  the node's host keys
//	nodes/NODE/ssh_host_ecdsa_key[.pub]
//
// Keys are generated once, on first use, and written atomically (a temp
// file renamed into place), so a crash never leaves half a key. Private keys
// are PEM (PKCS#1 for RSA, SEC 1 for ECDSA): EL6's OpenSSH 5.3 reads neither
// ed25519 keys nor the newer "OPENSSH PRIVATE KEY" format.
package hostkeys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// RSABits is the size of generated RSA keys. 2048 bits is what EL6's
// ssh-keygen makes itself and is accepted until 2030 (NIST SP 800-57); 3072
// would take about ten times as long per node to generate for a whole site.
const RSABits = 2048

// ErrBadNode is returned for a node name that is not a plain host name:
// it becomes a directory name under the state directory.
var ErrBadNode = errors.New("invalid node name")

// KeyPair is an SSH key pair. Private is PEM; Public is an authorized_keys
// line ("ssh-rsa AAAA... comment").
type KeyPair struct {
	Type    string // rsa | ecdsa
	Private []byte
	Public  string
}

// Store is the key store of one state directory. Its methods are safe for
// concurrent use by the goroutines of one process. Two processes sharing a
// state directory could both generate a missing key on first use; the
// appliance runs one server process, and the CLI generates before serving.
type Store struct {
	dir string
	mu  sync.Mutex // serialises generation, so a key is made once
}

// Open returns the store under stateDir/keys, creating the directory.
func Open(stateDir string) (*Store, error) {
	dir := filepath.Join(stateDir, "keys")
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o700); err != nil {
		return nil, fmt.Errorf("hostkeys: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the directory the keys live in.
func (s *Store) Dir() string { return s.dir }

// Appliance returns the appliance's SSH key pair, generating it on first use.
func (s *Store) Appliance() (KeyPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pair(filepath.Join(s.dir, "appliance_rsa"), "rsa", "provision-appliance")
}

// HostKeys returns the node's RSA and ECDSA host keys, generating them on
// first use.
func (s *Store) HostKeys(node string) ([]KeyPair, error) {
	if !validNode(node) {
		return nil, fmt.Errorf("hostkeys: %q: %w", node, ErrBadNode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.dir, "nodes", node)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostkeys: node %s: %w", node, err)
	}
	var out []KeyPair
	for _, typ := range []string{"rsa", "ecdsa"} {
		kp, err := s.pair(filepath.Join(dir, "ssh_host_"+typ+"_key"), typ, "root@"+node)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", node, err)
		}
		out = append(out, kp)
	}
	return out, nil
}

// Token returns the node's callback token: HMAC-SHA256 of the node name
// under the site key, hex. It is stable for the life of the state
// directory and needs no per-node storage.
func (s *Store) Token(node string) (string, error) {
	key, err := s.siteKey()
	if err != nil {
		return "", err
	}
	return token(key, node), nil
}

// Verify reports whether tok is the node's callback token, in constant time.
func (s *Store) Verify(node, tok string) bool {
	key, err := s.siteKey()
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(token(key, node)), []byte(tok))
}

func token(key []byte, node string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(node))
	return hex.EncodeToString(m.Sum(nil))
}

// siteKey reads the site key, creating it on first use.
func (s *Store) siteKey() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, "site.key")
	b, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 32 {
			return nil, fmt.Errorf("hostkeys: %s is not a 32-byte hex key", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hostkeys: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("hostkeys: %w", err)
	}
	if err := writeAtomic(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
		return nil, err
	}
	return key, nil
}

// pair loads the key pair at path (and path.pub), or generates and writes
// it. The caller holds s.mu.
func (s *Store) pair(path, typ, comment string) (KeyPair, error) {
	priv, err := os.ReadFile(path)
	if err == nil {
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			return KeyPair{}, fmt.Errorf("hostkeys: %w", err)
		}
		return KeyPair{Type: typ, Private: priv, Public: strings.TrimSpace(string(pub))}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return KeyPair{}, fmt.Errorf("hostkeys: %w", err)
	}
	kp, err := Generate(typ, comment)
	if err != nil {
		return KeyPair{}, err
	}
	// The public half is written first: a private key without its public
	// half would be read back as an error, the reverse is regenerated.
	if err := writeAtomic(path+".pub", []byte(kp.Public+"\n")); err != nil {
		return KeyPair{}, err
	}
	if err := writeAtomic(path, kp.Private); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

// Generate makes a new key pair of type rsa or ecdsa (P-256).
func Generate(typ, comment string) (KeyPair, error) {
	var (
		signer any
		block  *pem.Block
	)
	switch typ {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return KeyPair{}, fmt.Errorf("hostkeys: rsa: %w", err)
		}
		signer, block = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return KeyPair{}, fmt.Errorf("hostkeys: ecdsa: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return KeyPair{}, fmt.Errorf("hostkeys: ecdsa: %w", err)
		}
		signer, block = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		return KeyPair{}, fmt.Errorf("hostkeys: unknown key type %q", typ)
	}
	sk, err := ssh.NewSignerFromKey(signer)
	if err != nil {
		return KeyPair{}, fmt.Errorf("hostkeys: %w", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sk.PublicKey())))
	if comment != "" {
		pub += " " + comment
	}
	return KeyPair{Type: typ, Private: pem.EncodeToMemory(block), Public: pub}, nil
}

// writeAtomic writes data to path with mode 0600 through a temp file in
// the same directory, synced and renamed into place.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("hostkeys: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("hostkeys: write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hostkeys: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hostkeys: write %s: %w", path, err)
	}
	return nil
}

// validNode accepts a host name label: letters, digits and hyphens.
func validNode(n string) bool {
	if n == "" || len(n) > 63 || n[0] == '-' {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
