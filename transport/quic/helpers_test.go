package quic_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// listen opens a QUIC listener on a free loopback port, closed at cleanup.
func listen(t testing.TB, tlsConf *tls.Config) net.Listener {
	t.Helper()
	ln, err := briskquic.Listen(nil)(context.Background(), briskquic.Network, "127.0.0.1:0", tlsConf)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// dialOption is DefaultOption with tlsConf and the QUIC dialer.
func dialOption(tlsConf *tls.Config) client.Option {
	opt := client.DefaultOption
	opt.TLSConfig = tlsConf
	opt.Dialers = map[string]client.DialFunc{briskquic.Network: briskquic.Dial(nil)}
	return opt
}

// env is a brisk server with testsvc.Arith served over QUIC and the client Option that
// reaches it.
type env struct {
	s    *server.Server
	a    *testsvc.Arith
	addr string
	opt  client.Option
}

func newEnv(t testing.TB) *env {
	t.Helper()
	certs := conformance.NewCerts(t)
	s := server.NewServer()
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatal(err)
	}
	ln := listen(t, certs.ServerTLS())
	testsvc.ServeOn(t, s, ln)
	return &env{s: s, a: a, addr: ln.Addr().String(), opt: dialOption(certs.ClientTLS())}
}

// connect dials the env's server, closing the client at cleanup.
func (e *env) connect(t testing.TB) *client.Client {
	t.Helper()
	return testsvc.ConnectOn(t, briskquic.Network, e.addr, e.opt)
}
