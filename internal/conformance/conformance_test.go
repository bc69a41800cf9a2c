package conformance_test

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// served returns a Listen that serves on network at address with Server.Serve, so that
// the server's own listener table is what is tested.
func served(network, address string) func(testing.TB, *server.Server) (string, string) {
	return func(t testing.TB, s *server.Server) (string, string) {
		return network, conformance.Serve(t, s, network, address)
	}
}

func ipv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// TestTransports runs the conformance suite over every built-in transport.
func TestTransports(t *testing.T) {
	certs := conformance.NewCerts(t)
	withTLS := func(cfg func() *tls.Config) func(*client.Option) {
		return func(o *client.Option) { o.TLSConfig = cfg() }
	}
	for _, tr := range []conformance.Transport{
		{Name: "tcp", Listen: served("tcp", "127.0.0.1:0")},
		{Name: "tcp4", Listen: served("tcp4", "127.0.0.1:0")},
		{Name: "tcp6", Listen: served("tcp6", "[::1]:0")},
		{Name: "unix", Listen: func(t testing.TB, s *server.Server) (string, string) {
			return "unix", conformance.Serve(t, s, "unix", filepath.Join(t.TempDir(), "s.sock"))
		}},
		{Name: "http", Listen: served("http", "127.0.0.1:0")},
		{Name: "ws", Listen: served("ws", "127.0.0.1:0")},
		{
			Name:          "wss",
			ServerOptions: []server.Option{server.WithTLSConfig(certs.ServerTLS())},
			Listen:        served("wss", "127.0.0.1:0"),
			Client:        withTLS(certs.ClientTLS),
		},
		{
			Name:          "https", // HTTP CONNECT over TLS
			ServerOptions: []server.Option{server.WithTLSConfig(certs.ServerTLS())},
			Listen:        served("http", "127.0.0.1:0"),
			Client:        withTLS(certs.ClientTLS),
		},
		{
			Name:          "tcp+tls",
			ServerOptions: []server.Option{server.WithTLSConfig(certs.ServerTLS())},
			Listen:        served("tcp", "127.0.0.1:0"),
			Client:        withTLS(certs.ClientTLS),
		},
		{
			Name:          "tcp6+tls",
			ServerOptions: []server.Option{server.WithTLSConfig(certs.ServerTLS())},
			Listen:        served("tcp6", "[::1]:0"),
			Client:        withTLS(certs.ClientTLS),
		},
		{
			Name:          "tcp+mtls",
			ServerOptions: []server.Option{server.WithTLSConfig(certs.MutualServerTLS())},
			Listen:        served("tcp", "127.0.0.1:0"),
			Client:        withTLS(certs.MutualClientTLS),
		},
		{
			Name:          "wss+mtls",
			ServerOptions: []server.Option{server.WithTLSConfig(certs.MutualServerTLS())},
			Listen:        served("wss", "127.0.0.1:0"),
			Client:        withTLS(certs.MutualClientTLS),
		},
	} {
		t.Run(tr.Name, func(t *testing.T) {
			if strings.HasPrefix(tr.Name, "tcp6") && !ipv6Loopback() {
				t.Skip("::1 is not available on this machine: skipping tcp6")
			}
			conformance.Run(t, tr)
		})
	}
}
