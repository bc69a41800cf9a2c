package kcp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
)

// tlsConfigs returns a server config with a fresh self-signed certificate for 127.0.0.1
// and localhost, and a client config that trusts it. Nothing touches the disk.
func tlsConfigs(t testing.TB) (srv, cli *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "brisk test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	cli = &tls.Config{RootCAs: pool}
	return srv, cli
}

// listen opens a KCP listener on a free loopback port, closed at cleanup.
func listen(t testing.TB, tlsConf *tls.Config, opts ...briskkcp.Option) net.Listener {
	t.Helper()
	ln, err := briskkcp.Listen(opts...)(context.Background(), "kcp", "127.0.0.1:0", tlsConf)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// env is a brisk server with testsvc.Arith served over KCP and the client Option that
// reaches it.
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
	srv  []server.Option
}

func newEnv(t testing.TB) *env { return newEnvWith(t, setup{}) }

func newEnvWith(t testing.TB, su setup) *env {
	t.Helper()
	s := server.NewServer(su.srv...)
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatal(err)
	}
	opt := client.DefaultOption
	var srvTLS *tls.Config
	if su.tls {
		srvTLS, opt.TLSConfig = tlsConfigs(t)
	}
	ln := listen(t, srvTLS, su.opts...)
	testsvc.ServeOn(t, s, ln)
	opt.Dialers = map[string]client.DialFunc{"kcp": briskkcp.Dial(su.opts...)}
	return &env{s: s, a: a, addr: ln.Addr().String(), opt: opt}
}

// connect dials the env's server over KCP with opt, closing the client at cleanup.
func connect(t testing.TB, addr string, opt client.Option) *client.Client {
	t.Helper()
	c := client.NewClient(opt)
	if err := c.Connect("kcp", addr); err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freeUDPAddr returns a loopback UDP address nothing listens on.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// recordingDial wraps a DialFunc so that the bytes read on its connections are kept.
type recordingDial struct {
	mu   sync.Mutex
	read []byte
}

func (r *recordingDial) wrap(dial client.DialFunc) client.DialFunc {
	return func(ctx context.Context, network, address string, opt *client.Option) (net.Conn, error) {
		nc, err := dial(ctx, network, address, opt)
		if err != nil {
			return nil, err
		}
		return &recordingConn{Conn: nc, r: r}, nil
	}
}

func (r *recordingDial) frames() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return testsvc.SplitFrames(append([]byte(nil), r.read...))
}

type recordingConn struct {
	net.Conn
	r *recordingDial
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.read = append(c.r.read, p[:n]...)
	c.r.mu.Unlock()
	return n, err
}
