package profiles

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/provision/provision/provision"
)

// VPNServer is what the OpenVPN server's configuration needs of the PKI.
type VPNServer struct {
	CACert   []byte // PEM
	Cert     []byte // PEM
	Key      provision.Secret
	TLSCrypt provision.Secret // OpenVPN static key V1
}

// PKI is the appliance's OpenVPN certificate authority, kept under
// STATE/vpn (directory 0700, keys 0600): ca.crt, ca.key, server.crt,
// server.key, tls-crypt.key, and clients/NAME.crt for each issued client
// (client keys are never kept: they leave in the .ovpn). Keys are ECDSA
// P-256; certificates last 10 years (CA) and 5 years (server, clients).
type PKI struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	server VPNServer
}

// PKIDir is where the PKI lives under the state directory.
func PKIDir(stateDir string) string { return filepath.Join(stateDir, "vpn") }

// OpenPKI loads the PKI, generating what is missing once. site names the
// CA ("provision NAME VPN CA").
func OpenPKI(stateDir, site string, now time.Time) (*PKI, error) {
	p := &PKI{dir: PKIDir(stateDir)}
	if err := os.MkdirAll(filepath.Join(p.dir, "clients"), 0o700); err != nil {
		return nil, fmt.Errorf("vpn pki: %w", err)
	}
	caKey, err := p.key("ca.key")
	if err != nil {
		return nil, err
	}
	p.caKey = caKey
	caDER, err := p.cert("ca.crt", func() ([]byte, error) {
		tmpl := &x509.Certificate{
			Subject: pkix.Name{CommonName: "provision " + site + " VPN CA"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		}
		return sign(tmpl, tmpl, &caKey.PublicKey, caKey)
	})
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(caDER); err != nil {
		return nil, fmt.Errorf("vpn pki: ca.crt: %w", err)
	}
	srvKey, err := p.key("server.key")
	if err != nil {
		return nil, err
	}
	srvDER, err := p.cert("server.crt", func() ([]byte, error) {
		return p.issue("server", &srvKey.PublicKey, x509.ExtKeyUsageServerAuth, now)
	})
	if err != nil {
		return nil, err
	}
	tc, err := p.tlsCrypt()
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyPEM(srvKey)
	if err != nil {
		return nil, err
	}
	p.server = VPNServer{CACert: certPEM(caDER), Cert: certPEM(srvDER), Key: provision.NewSecret(string(keyPEM)),
		TLSCrypt: provision.NewSecret(tc)}
	return p, nil
}

// Server returns the server's PKI files.
func (p *PKI) Server() *VPNServer { s := p.server; return &s }

// validClient accepts a certificate common name usable as a file name:
// a letter or digit, then letters, digits, '.', '_' or '-', at most 64.
func validClient(name string) bool {
	if name == "" || len(name) > 64 || name == "server" {
		return false
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i > 0 {
			ok = ok || c == '.' || c == '_' || c == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// ErrBadClient is returned for a client name that is not a plain name.
var ErrBadClient = errors.New("client name must be letters, digits, '.', '_' or '-' (at most 64)")

// ErrClientExists is returned when a client of that name was issued.
var ErrClientExists = errors.New("a client certificate of that name was already issued")

// Client issues a client certificate and returns it with its key (PEM).
// A name is issued once.
func (p *PKI) Client(name string, now time.Time) (cert []byte, key provision.Secret, err error) {
	if !validClient(name) {
		return nil, provision.Secret{}, fmt.Errorf("vpn client %q: %w", name, ErrBadClient)
	}
	path := filepath.Join(p.dir, "clients", name+".crt")
	if _, err := os.Stat(path); err == nil {
		return nil, provision.Secret{}, fmt.Errorf("vpn client %s: %w (%s)", name, ErrClientExists, path)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, provision.Secret{}, fmt.Errorf("vpn client %s: %w", name, err)
	}
	der, err := p.issue(name, &k.PublicKey, x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		return nil, provision.Secret{}, err
	}
	kp, err := keyPEM(k)
	if err != nil {
		return nil, provision.Secret{}, err
	}
	if err := writeAtomic(path, certPEM(der)); err != nil {
		return nil, provision.Secret{}, err
	}
	return certPEM(der), provision.NewSecret(string(kp)), nil
}

func (p *PKI) issue(cn string, pub *ecdsa.PublicKey, eku x509.ExtKeyUsage, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage: []x509.ExtKeyUsage{eku},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
	}
	return sign(tmpl, p.caCert, pub, p.caKey)
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("vpn pki: serial: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("vpn pki: %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// key loads or generates an ECDSA key file.
func (p *PKI) key(name string) (*ecdsa.PrivateKey, error) {
	path := filepath.Join(p.dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("vpn pki: %s: no PEM block", path)
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("vpn pki: %s: not an EC private key", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vpn pki: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("vpn pki: %w", err)
	}
	kp, err := keyPEM(k)
	if err != nil {
		return nil, err
	}
	return k, writeAtomic(path, kp)
}

// cert loads a certificate file or makes it with mk.
func (p *PKI) cert(name string, mk func() ([]byte, error)) ([]byte, error) {
	path := filepath.Join(p.dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("vpn pki: %s: no certificate", path)
		}
		return blk.Bytes, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vpn pki: %w", err)
	}
	der, err := mk()
	if err != nil {
		return nil, err
	}
	return der, writeAtomic(path, certPEM(der))
}

// tlsCrypt loads or makes the tls-crypt key: 2048 random bits in
// OpenVPN's static key format (what `openvpn --genkey tls-crypt` writes).
func (p *PKI) tlsCrypt() (string, error) {
	path := filepath.Join(p.dir, "tls-crypt.key")
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("vpn pki: %w", err)
	}
	raw := make([]byte, 256)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("vpn pki: %w", err)
	}
	var s strings.Builder
	s.WriteString("#\n# 2048 bit OpenVPN static key\n#\n-----BEGIN OpenVPN Static key V1-----\n")
	for i := 0; i < len(raw); i += 16 {
		s.WriteString(hex.EncodeToString(raw[i:i+16]) + "\n")
	}
	s.WriteString("-----END OpenVPN Static key V1-----\n")
	return s.String(), writeAtomic(path, []byte(s.String()))
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("vpn pki: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ClientConfig renders a client's .ovpn with everything inline.
func ClientConfig(plan *provision.Plan, srv *VPNServer, cert []byte, key provision.Secret) ([]byte, error) {
	app, ok := plan.Node(plan.Site.Appliance)
	if !ok {
		return nil, fmt.Errorf("vpn client: appliance node %s not in the plan", plan.Site.Appliance)
	}
	remote, _, ok := addressOnPurpose(plan, app, provision.PurposeInternet)
	if !ok {
		return nil, fmt.Errorf("vpn client: %s has no internet address", app.Name)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# OpenVPN client of %s (site %s), written by provision vpn client.\n", app.FQDN, plan.Site.Name)
	fmt.Fprintf(&b, "client\ndev tun\nproto udp\nremote %s %d\nnobind\npersist-key\npersist-tun\n", remote, vpnPort)
	b.WriteString("remote-cert-tls server\ntls-version-min 1.2\ndata-ciphers AES-256-GCM:AES-128-GCM\nverb 3\n")
	for _, part := range []struct{ tag, body string }{
		{"ca", string(srv.CACert)}, {"cert", string(cert)}, {"key", key.Reveal()}, {"tls-crypt", srv.TLSCrypt.Reveal()},
	} {
		fmt.Fprintf(&b, "<%s>\n%s</%s>\n", part.tag, part.body, part.tag)
	}
	return b.Bytes(), nil
}
