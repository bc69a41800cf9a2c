package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// writePEM writes blocks of type typ to a new file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var b strings.Builder
	for _, der := range ders {
		if err := pem.Encode(&b, &pem.Block{Type: typ, Bytes: der}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsArithServer serves Arith over TLS with cfg.
func tlsArithServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	s := server.NewServer()
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	ln := testsvc.Listen(t)
	testsvc.ServeOn(t, s, tls.NewListener(ln, cfg))
	return ln.Addr().String()
}

func TestCallTLS(t *testing.T) {
	certs := conformance.NewCerts(t)
	dir := t.TempDir()
	ca := writePEM(t, dir, "ca.pem", "CERTIFICATE", certs.CA.Raw)
	cert := writePEM(t, dir, "client.pem", "CERTIFICATE", certs.Client.Certificate...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(certs.Client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	key := writePEM(t, dir, "client.key", "PRIVATE KEY", keyDER)

	plain := tlsArithServer(t, certs.ServerTLS())
	mutual := tlsArithServer(t, certs.MutualServerTLS())
	tests := []struct {
		name  string
		addr  string
		flags []string
		code  int
		why   string // in stderr, for transport errors
	}{
		{"verified with --ca", plain, []string{"--ca", ca}, exitOK, ""},
		{"--insecure", plain, []string{"--insecure"}, exitOK, ""},
		{"unknown authority", plain, []string{"--tls"}, exitTransport, "certificate signed by unknown authority"},
		{"wrong server name", plain, []string{"--ca", ca, "--server-name", "example.com"}, exitTransport, "not example.com"},
		{"mutual TLS", mutual, []string{"--ca", ca, "--cert", cert, "--key", key}, exitOK, ""},
		{"mutual TLS without a certificate", mutual, []string{"--ca", ca}, exitTransport, "certificate required"},
		{"no TLS to a TLS server", plain, nil, exitTransport, ""},
		{"--cert without --key", mutual, []string{"--cert", cert}, exitUsage, ""},
		{"missing CA file", plain, []string{"--ca", filepath.Join(dir, "nope.pem")}, exitUsage, ""},
		{"CA file without PEM", plain, []string{"--ca", key + "x"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"call", tt.addr, "Arith.Mul", `{"A":6,"B":7}`, "--timeout", "3s"}, tt.flags...)...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code == exitOK && !strings.Contains(r.stdout, `"C": 42`) {
				t.Errorf("stdout %q", r.stdout)
			}
			if tt.code == exitTransport && !strings.Contains(r.stderr, tt.why) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.why)
			}
		})
	}
}
