package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// TestMutualTLS: a server that requires client certificates refuses a client without one,
// with one from another CA, and a client that speaks no TLS, on every transport that
// carries TLS (tcp, WebSocket, HTTP CONNECT): the dial or the first call fails with a
// *TransportError and no handler runs. A client with a certificate from the server's CA
// gets through; one that does not trust the server's CA refuses to dial.
func TestMutualTLS(t *testing.T) {
	certs := conformance.NewCerts(t)
	other := conformance.NewCerts(t) // an unrelated CA
	foreignCert := certs.ClientTLS()
	foreignCert.Certificates = []tls.Certificate{other.Client}

	transports := []struct{ listen, dial string }{
		{"tcp", "tcp"},
		{"wss", "wss"},
		{"http", "http"}, // HTTP CONNECT over TLS
	}
	clients := []struct {
		name   string
		tls    *tls.Config
		accept bool
	}{
		{"valid certificate", certs.MutualClientTLS(), true},
		{"no certificate", certs.ClientTLS(), false},
		{"certificate from another CA", foreignCert, false},
		{"server CA not trusted", other.MutualClientTLS(), false},
		{"no TLS", nil, false},
	}
	for _, tr := range transports {
		t.Run(tr.listen, func(t *testing.T) {
			s := server.NewServer(server.WithTLSConfig(certs.MutualServerTLS()))
			probe := conformance.NewProbe()
			if err := s.RegisterName("Probe", probe, ""); err != nil {
				t.Fatal(err)
			}
			addr := conformance.Serve(t, s, tr.listen, "127.0.0.1:0")
			for _, tc := range clients {
				if tc.tls == nil && tr.dial == "wss" {
					continue // wss without a TLSConfig uses the system roots: covered by "server CA not trusted"
				}
				t.Run(tc.name, func(t *testing.T) {
					before := probe.Hits()
					opt := client.DefaultOption
					opt.TLSConfig = tc.tls
					c := client.NewClient(opt)
					defer c.Close()
					err := c.Connect(tr.dial, addr)
					if err == nil {
						ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
						defer cancel()
						var r testsvc.Reply
						err = c.Call(ctx, "Probe.Hello", &testsvc.Args{A: 2, B: 3}, &r)
						if err == nil && r.C != 5 {
							t.Fatalf("Probe.Hello(2, 3) = %d", r.C)
						}
					}
					if tc.accept {
						if err != nil {
							t.Fatalf("client with a valid certificate: %v", err)
						}
						if got := probe.Hits() - before; got != 1 {
							t.Fatalf("handler ran %d times, want 1", got)
						}
						return
					}
					var te *client.TransportError
					if !errors.As(err, &te) {
						t.Fatalf("refused client: %v (%T), want a *client.TransportError", err, err)
					}
					if got := probe.Hits() - before; got != 0 {
						t.Fatalf("the handler ran %d times for a refused client", got)
					}
					t.Logf("refused: %v", err)
				})
			}
		})
	}
}
