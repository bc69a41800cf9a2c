package main

// brisk call over every transport target.go wires (unix, http CONNECT, ws, wss, quic, kcp),
// each against a brisk server listening on that network.

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// serveArithOn starts a server with Arith (as "Arith") listening on network and address
// (server.Serve), closed at cleanup, and returns the address it listens on.
func serveArithOn(t *testing.T, network, address string, opts ...server.Option) string {
	t.Helper()
	s := server.NewServer(opts...)
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	return conformance.Serve(t, s, network, address)
}

// transportCase is one transport: how to start its server and the brisk address and flags
// that reach it.
type transportCase struct {
	name  string
	start func(t *testing.T) (addr string, flags []string)
}

// transportCases returns the transports under test; ca is a PEM file of the CA that signed
// certs' server certificate.
func transportCases(certs *conformance.Certs, ca string) []transportCase {
	return []transportCase{
		{"unix", func(t *testing.T) (string, []string) {
			return "unix@" + serveArithOn(t, "unix", filepath.Join(t.TempDir(), "brisk.sock")), nil
		}},
		{"http CONNECT", func(t *testing.T) (string, []string) {
			return "http@" + serveArithOn(t, "http", "127.0.0.1:0"), nil
		}},
		{"ws", func(t *testing.T) (string, []string) {
			return "ws@" + serveArithOn(t, "ws", "127.0.0.1:0"), nil
		}},
		{"wss", func(t *testing.T) (string, []string) {
			return "wss@" + serveArithOn(t, "wss", "127.0.0.1:0", server.WithTLSConfig(certs.ServerTLS())), []string{"--ca", ca}
		}},
		{"quic", func(t *testing.T) (string, []string) {
			addr := serveArithOn(t, "quic", "127.0.0.1:0",
				server.WithTLSConfig(certs.ServerTLS()), server.WithListenFunc("quic", briskquic.Listen(nil)))
			return "quic@" + addr, []string{"--ca", ca}
		}},
		{"kcp", func(t *testing.T) (string, []string) {
			return "kcp@" + serveArithOn(t, "kcp", "127.0.0.1:0", server.WithListenFunc("kcp", briskkcp.Listen())), nil
		}},
		{"kcp with TLS", func(t *testing.T) (string, []string) {
			addr := serveArithOn(t, "kcp", "127.0.0.1:0",
				server.WithTLSConfig(certs.ServerTLS()), server.WithListenFunc("kcp", briskkcp.Listen()))
			return "kcp@" + addr, []string{"--ca", ca}
		}},
	}
}

// TestCallTransports calls Arith over each transport: a reply (with JSON and msgpack
// payloads), response metadata, and a service error with its exit code.
func TestCallTransports(t *testing.T) {
	certs := conformance.NewCerts(t)
	ca := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", certs.CA.Raw)
	for _, tc := range transportCases(certs, ca) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, flags := tc.start(t)
			calls := []struct {
				name      string
				args      []string
				code      int
				stdout    string // exact, when set
				stdoutHas []string
				stderrHas []string
			}{
				{name: "json", args: []string{"Arith.Mul", `{"A":6,"B":7}`}, stdout: "{\n  \"C\": 42\n}\n"},
				{name: "msgpack", args: []string{"Arith.Mul", `{"A":-6,"B":7}`, "--codec", "msgpack"}, stdout: "{\n  \"C\": -42\n}\n"},
				{name: "metadata", args: []string{"Arith.EchoMetadata", "{}", "-m", "via=" + tc.name, "-v"},
					stdoutHas: []string{`"via": "` + tc.name + `"`}, stderrHas: []string{"< echo-via: " + tc.name}},
				{name: "service error", args: []string{"Arith.Div", `{"A":1,"B":0}`}, code: exitService, stderrHas: []string{"divide by zero"}},
			}
			for _, c := range calls {
				args := append(append([]string{"call", addr}, c.args...), flags...)
				r := runCLI(t, "", args...)
				if r.code != c.code {
					t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", c.name, r.code, c.code, r.stdout, r.stderr)
					continue
				}
				if c.stdout != "" && r.stdout != c.stdout {
					t.Errorf("%s: stdout %q, want %q", c.name, r.stdout, c.stdout)
				}
				for _, s := range c.stdoutHas {
					if !strings.Contains(r.stdout, s) {
						t.Errorf("%s: stdout lacks %q:\n%s", c.name, s, r.stdout)
					}
				}
				for _, s := range c.stderrHas {
					if !strings.Contains(r.stderr, s) {
						t.Errorf("%s: stderr lacks %q:\n%s", c.name, s, r.stderr)
					}
				}
			}
		})
	}
}

// TestCallTransportFailures: the transports' own failures are transport errors (exit 2):
// nobody listening, and a TLS transport whose certificate the client cannot verify (wss and
// quic imply TLS without --tls).
func TestCallTransportFailures(t *testing.T) {
	certs := conformance.NewCerts(t)
	wss := serveArithOn(t, "wss", "127.0.0.1:0", server.WithTLSConfig(certs.ServerTLS()))
	quic := serveArithOn(t, "quic", "127.0.0.1:0",
		server.WithTLSConfig(certs.ServerTLS()), server.WithListenFunc("quic", briskquic.Listen(nil)))
	tests := []struct {
		name, addr, why string
	}{
		{"unix socket that does not exist", "unix@" + filepath.Join(t.TempDir(), "none.sock"), "no such file"},
		{"ws nobody serves", "ws@" + closedAddr(t), "refused"},
		{"http nobody serves", "http@" + closedAddr(t), "refused"},
		{"wss unknown authority", "wss@" + wss, "certificate signed by unknown authority"},
		{"quic unknown authority", "quic@" + quic, "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", "call", tt.addr, "Arith.Mul", `{"A":6,"B":7}`, "--connect-timeout", "2s")
			if r.code != exitTransport || r.stdout != "" {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitTransport, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.why) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.why)
			}
		})
	}
}
