package idracsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves one Sim over HTTPS, as an iDRAC does, with a self-signed
// certificate generated when it starts listening.
type Server struct {
	// Addr to listen on; "127.0.0.1:0" when empty.
	Addr string
	Sim  *Sim
	// Cert, when set, is served instead of a generated certificate.
	Cert *tls.Certificate
	Log  *slog.Logger

	ln   net.Listener
	cert tls.Certificate
}

// Listen binds the address and generates the certificate, so Endpoint and
// Fingerprint are known before Serve.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if s.Cert != nil {
		s.cert = *s.Cert
	} else {
		c, err := SelfSigned("idrac-"+s.Sim.cfg.ServiceTag, addr)
		if err != nil {
			return fmt.Errorf("idracsim %s: %w", s.Sim.cfg.Node, err)
		}
		s.cert = c
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("idracsim %s: %w", s.Sim.cfg.Node, err)
	}
	s.ln = ln
	return nil
}

// Endpoint is the https URL of the listening server.
func (s *Server) Endpoint() string { return "https://" + s.ln.Addr().String() }

// Fingerprint is the SHA-256 of the served certificate, in hex.
func (s *Server) Fingerprint() string {
	sum := sha256.Sum256(s.cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// CertPEM is the served certificate in PEM, for a CA file.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Certificate[0]})
}

// Serve answers until ctx ends; it listens first if Listen was not called.
// Stalled and in-flight requests end with ctx: their contexts derive from
// it.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ln := tls.NewListener(stallListener{Listener: s.ln, ctx: ctx, faults: &s.Sim.faults, wg: &wg},
		&tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12})
	hs := &http.Server{
		Handler:           s.Sim,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// iDRAC speaks HTTP/1.1 only.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	// This goroutine ends when Serve returns (done) or ctx ends.
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				hs.Close()
			}
		case <-done:
		}
	}()
	err := hs.Serve(ln)
	close(done)
	s.Sim.Close()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("idracsim %s: %w", s.Sim.cfg.Node, err)
}

// SelfSigned makes a certificate like an iDRAC's factory one: self-signed,
// with the listening host as its subject alternative name.
func SelfSigned(cn, addr string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Dell Inc."}, OrganizationalUnit: []string{"Remote Access Group"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
