package kcp_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
)

// listen opens a KCP listener on a free loopback port, closed at cleanup.
func listen(t testing.TB, tlsConf *tls.Config, opts ...briskkcp.Option) net.Listener {
	t.Helper()
	ln, err := briskkcp.Listen(opts...)(context.Background(), briskkcp.Network, "127.0.0.1:0", tlsConf)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// env is a brisk server with testsvc.Arith and conformance.Probe served over KCP and the
// client Option that reaches it.
type env struct {
	s    *server.Server
	a    *testsvc.Arith
	addr string
	opt  client.Option
}

// setup says how an env's transport is configured.
type setup struct {
	tls  bool              // TLS over KCP on both sides
	opts []briskkcp.Option // for both Listen and Dial
}

func newEnv(t testing.TB) *env { return newEnvWith(t, setup{}) }

func newEnvWith(t testing.TB, su setup) *env {
	t.Helper()
	s := server.NewServer()
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Probe", conformance.NewProbe(), ""); err != nil {
		t.Fatal(err)
	}
	opt := client.DefaultOption
	var srvTLS *tls.Config
	if su.tls {
		certs := conformance.NewCerts(t)
		srvTLS, opt.TLSConfig = certs.ServerTLS(), certs.ClientTLS()
	}
	ln := listen(t, srvTLS, su.opts...)
	testsvc.ServeOn(t, s, ln)
	opt.Dialers = map[string]client.DialFunc{briskkcp.Network: briskkcp.Dial(su.opts...)}
	return &env{s: s, a: a, addr: ln.Addr().String(), opt: opt}
}

// connect dials addr over KCP with opt, closing the client at cleanup.
func connect(t testing.TB, addr string, opt client.Option) *client.Client {
	t.Helper()
	return testsvc.ConnectOn(t, briskkcp.Network, addr, opt)
}
