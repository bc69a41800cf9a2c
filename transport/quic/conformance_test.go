package quic_test

import (
	"crypto/tls"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/server"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// TestConformance runs the transport conformance suite over QUIC, with server-only TLS
// and with mutual TLS.
func TestConformance(t *testing.T) {
	certs := conformance.NewCerts(t)
	for _, tc := range []struct {
		name      string
		serverTLS func() *tls.Config
		clientTLS func() *tls.Config
	}{
		{"quic", certs.ServerTLS, certs.ClientTLS},
		{"quic+mtls", certs.MutualServerTLS, certs.MutualClientTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conformance.Run(t, conformance.Transport{
				Name: tc.name,
				ServerOptions: []server.Option{
					server.WithTLSConfig(tc.serverTLS()),
					server.WithListenFunc(briskquic.Network, briskquic.Listen(nil)),
				},
				Listen: func(t testing.TB, s *server.Server) (string, string) {
					return briskquic.Network, conformance.Serve(t, s, briskquic.Network, "127.0.0.1:0")
				},
				Client: func(opt *client.Option) {
					opt.TLSConfig = tc.clientTLS()
					opt.Dialers = map[string]client.DialFunc{briskquic.Network: briskquic.Dial(nil)}
				},
			})
		})
	}
}
