package etcd_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
	"github.com/brisk-rpc/brisk/server"
)

// ttl is the lease TTL of the test registrars: short, so a crashed server's entries vanish
// quickly (etcd's minimum with its default election timeout is 1.5 s).
const ttl = 2 * time.Second

// fast are the settings every test uses, so that refreshes, re-watches and retries happen
// within a fraction of testsvc.Bound.
func fast(more ...registry.Option) []registry.Option {
	return append([]registry.Option{
		registry.WithTTL(ttl),
		registry.WithRefreshInterval(500 * time.Millisecond),
		registry.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		registry.WithTimeout(2 * time.Second),
	}, more...)
}

// etcdServer is an in-process etcd that a test may stop and restart; whichever instance
// runs last is closed at cleanup, in the place of the first (so after everything started
// later, which may need etcd to close cleanly).
type etcdServer struct {
	t   testing.TB
	srv *embedded.Server
}

// startEtcd starts an in-process etcd for one test, closed at cleanup.
func startEtcd(t testing.TB) *etcdServer {
	t.Helper()
	srv, err := embedded.Start(context.Background(), embedded.Config{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &etcdServer{t: t, srv: srv}
	t.Cleanup(func() { e.srv.Close() })
	return e
}

// Endpoints returns the client URLs.
func (e *etcdServer) Endpoints() []string { return e.srv.Endpoints() }

// Stop stops etcd.
func (e *etcdServer) Stop() { e.srv.Close() }

// Start starts etcd again on the same data and ports.
func (e *etcdServer) Start() {
	e.t.Helper()
	srv, err := embedded.Start(context.Background(), e.srv.Config())
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
}

// newClient opens an etcd client of srv that the test closes itself.
func newClient(t testing.TB, srv *etcdServer) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   srv.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// gRPC waits up to 2 minutes between reconnection attempts by default; a registry
		// client wants to be back soon after the registry is.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	return cli
}

// connect is newClient, closed at cleanup.
func connect(t testing.TB, srv *etcdServer) *clientv3.Client {
	t.Helper()
	cli := newClient(t, srv)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// arithServer is a brisk server of testsvc's Arith advertised through an etcd Registrar.
type arithServer struct {
	s    *server.Server
	reg  *registry.Registrar
	addr string // network@host:port
}

// serveArith starts a brisk server on loopback that registers Arith with metadata through
// a Registrar on cli (server.WithRegistrar), closed at cleanup.
func serveArith(t testing.TB, cli *clientv3.Client, metadata string, opts ...registry.Option) *arithServer {
	t.Helper()
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	reg, err := etcd.NewRegistrar(cli, addr, fast(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	if err := s.RegisterName("Arith", testsvc.NewArith(), metadata); err != nil {
		t.Fatal(err)
	}
	testsvc.ServeOn(t, s, ln)
	return &arithServer{s: s, reg: reg, addr: addr}
}

// discover starts a Discovery of Arith on cli, closed at cleanup.
func discover(t testing.TB, cli *clientv3.Client, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	d, err := etcd.NewDiscovery(cli, "Arith", fast(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Discovery.Close: %v", err)
		}
	})
	return d
}

// xclient returns an XClient of Arith over d, closed at cleanup.
func xclient(t testing.TB, d discovery.Discovery, mode client.FailMode) *client.XClient {
	t.Helper()
	x := client.NewXClient("Arith", mode, client.RoundRobin, d, client.DefaultOption)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// mul calls Arith.Mul through x and checks the product.
func mul(t testing.TB, x *client.XClient, a, b int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	var reply testsvc.Reply
	if err := x.Call(ctx, "Mul", &testsvc.Args{A: a, B: b}, &reply); err != nil {
		t.Fatalf("Mul(%d, %d): %v", a, b, err)
	}
	if reply.C != a*b {
		t.Fatalf("Mul(%d, %d) = %d", a, b, reply.C)
	}
}

// keys returns the sorted keys of list.
func keys(list []discovery.Server) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Key
	}
	slices.Sort(out)
	return out
}

// waitList waits until d lists exactly want (any order) and returns that list.
func waitList(t testing.TB, d *registry.Discovery, want ...string) []discovery.Server {
	t.Helper()
	slices.Sort(want)
	var list []discovery.Server
	deadline := time.Now().Add(testsvc.Bound)
	for {
		list = d.Servers()
		if slices.Equal(keys(list), want) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery lists %v, want %v (Err: %v)", keys(list), want, d.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitEndpoints waits until x uses exactly the servers want (any order): an XClient
// follows its Discovery's list asynchronously.
func waitEndpoints(t testing.TB, x *client.XClient, want ...string) {
	t.Helper()
	slices.Sort(want)
	testsvc.Eventually(t, fmt.Sprintf("the XClient to use %v", want), func() bool {
		var got []string
		for _, e := range x.Endpoints() {
			got = append(got, e.Key)
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
}

// kv is one key as read from etcd.
type kv struct {
	value string
	lease clientv3.LeaseID
}

// dump reads every key under prefix (prefix itself included) straight from etcd.
func dump(t testing.TB, cli *clientv3.Client, prefix string) map[string]kv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("Get %s: %v", prefix, err)
	}
	out := make(map[string]kv, len(resp.Kvs))
	for _, e := range resp.Kvs {
		out[string(e.Key)] = kv{string(e.Value), clientv3.LeaseID(e.Lease)}
	}
	return out
}
