package kcp_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
)

// TestConformance runs the transport conformance suite over KCP, plain and with TLS. KCP
// has no FIN, so clients send heartbeats and the server has a read timeout: that is how
// each end learns that the other closed (see the package doc).
func TestConformance(t *testing.T) {
	certs := conformance.NewCerts(t)
	for _, tc := range []struct {
		name      string
		serverTLS *tls.Config
		clientTLS *tls.Config
	}{
		{"kcp", nil, nil},
		{"kcp+tls", certs.ServerTLS(), certs.ClientTLS()},
		{"kcp+mtls", certs.MutualServerTLS(), certs.MutualClientTLS()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []server.Option{
				server.WithListenFunc(briskkcp.Network, briskkcp.Listen()),
				server.WithReadTimeout(2 * time.Second),
			}
			if tc.serverTLS != nil {
				opts = append(opts, server.WithTLSConfig(tc.serverTLS))
			}
			conformance.Run(t, conformance.Transport{
				Name:          tc.name,
				ServerOptions: opts,
				Listen: func(t testing.TB, s *server.Server) (string, string) {
					return briskkcp.Network, conformance.Serve(t, s, briskkcp.Network, "127.0.0.1:0")
				},
				Client: func(opt *client.Option) {
					opt.TLSConfig = tc.clientTLS
					opt.Dialers = map[string]client.DialFunc{briskkcp.Network: briskkcp.Dial()}
					opt.Heartbeat = true
					opt.HeartbeatInterval = 100 * time.Millisecond
					opt.MaxWaitForHeartbeat = time.Second
				},
				SilentClose: true,
			})
		})
	}
}
