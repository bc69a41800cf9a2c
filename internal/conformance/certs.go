package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// Certs is a throwaway public key infrastructure for tests: a certificate authority, a
// server certificate it signed for 127.0.0.1, ::1 and localhost, and a client certificate
// it signed. Every key is ECDSA P-256. Make one with NewCerts; two Certs have unrelated
// CAs, so a client certificate of one is refused by a server requiring the other's.
type Certs struct {
	// CA is the authority's certificate; Pool holds it alone.
	CA   *x509.Certificate
	Pool *x509.CertPool
	// Server is the server's certificate chain and key (DNS localhost, IPs 127.0.0.1, ::1).
	Server tls.Certificate
	// Client is a client certificate (CN "brisk-test-client", usage client auth).
	Client tls.Certificate
}

// NewCerts generates a CA with a server and a client certificate, valid from an hour ago
// for a day. It fails the test if generation fails.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c, err := GenerateCerts()
	if err != nil {
		t.Fatalf("generate certificates: %v", err)
	}
	return c
}

// GenerateCerts is NewCerts without a testing.TB.
func GenerateCerts() (*Certs, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "brisk test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(tmpl *x509.Certificate) (tls.Certificate, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return tls.Certificate{}, err
		}
		parsed, err := x509.ParseCertificate(der)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: parsed}, nil
	}
	srv, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	cli, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "brisk-test-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Certs{CA: ca, Pool: pool, Server: srv, Client: cli}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

// ServerTLS returns a server configuration presenting the server certificate and asking
// nothing of clients.
func (c *Certs) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Server}, MinVersion: tls.VersionTLS12}
}

// MutualServerTLS returns a server configuration that requires a client certificate
// signed by this CA (mutual TLS).
func (c *Certs) MutualServerTLS() *tls.Config {
	cfg := c.ServerTLS()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = c.Pool
	return cfg
}

// ClientTLS returns a client configuration that trusts this CA and presents no certificate.
// The server name comes from the address dialled (an IP SAN covers 127.0.0.1 and ::1).
func (c *Certs) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS12}
}

// MutualClientTLS returns ClientTLS presenting the client certificate.
func (c *Certs) MutualClientTLS() *tls.Config {
	cfg := c.ClientTLS()
	cfg.Certificates = []tls.Certificate{c.Client}
	return cfg
}
