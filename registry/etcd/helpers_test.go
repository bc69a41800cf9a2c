package etcd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
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

// registrarOn returns a function making Registrars on cli, with the fast settings.
func registrarOn(cli *clientv3.Client) func(t testing.TB, address string) *registry.Registrar {
	return func(t testing.TB, address string) *registry.Registrar {
		t.Helper()
		return registrytest.MustRegistrar(t)(etcd.NewRegistrar(cli, address, fast()...))
	}
}

// serveArith starts a brisk server on loopback that registers Arith with metadata through
// a Registrar on cli (server.WithRegistrar), closed at cleanup.
func serveArith(t testing.TB, cli *clientv3.Client, metadata string) *registrytest.Server {
	t.Helper()
	return registrytest.Serve(t, registrarOn(cli), "Arith", metadata)
}

// discover starts a Discovery of service on cli, closed at cleanup.
func discover(t testing.TB, cli *clientv3.Client, service string, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	return registrytest.MustDiscovery(t)(etcd.NewDiscovery(cli, service, fast(opts...)...))
}

// backend is etcd for registrytest.Run: an embedded etcd per test, a client per Registrar
// and Discovery, raw reads of keys and leases.
var backend = registrytest.Backend{Start: func(t *testing.T) *registrytest.Registry {
	srv := startEtcd(t)
	raw := connect(t, srv)
	entry := func(t testing.TB, service, address string) (kv, bool) {
		t.Helper()
		key := registry.Key("", service, address)
		e, ok := dump(t, raw, key)[key]
		return e, ok
	}
	liveLease := func(lease clientv3.LeaseID) bool {
		resp, err := raw.TimeToLive(context.Background(), lease)
		return err == nil && resp.TTL > 0
	}
	return &registrytest.Registry{
		NewRegistrar: func(t testing.TB, address string) *registry.Registrar {
			return registrarOn(connect(t, srv))(t, address)
		},
		NewDiscovery: func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery {
			return discover(t, connect(t, srv), service, opts...)
		},
		Entry: func(t testing.TB, service, address string) (string, bool) {
			e, ok := entry(t, service, address)
			return e.value, ok
		},
		Holder: func(t testing.TB, service, address string) func(testing.TB) {
			e, _ := entry(t, service, address)
			if !liveLease(e.lease) {
				t.Fatalf("the entry %+v is not under a live lease", e)
			}
			return func(t testing.TB) {
				resp, err := raw.TimeToLive(context.Background(), e.lease)
				if err != nil {
					t.Fatal(err)
				}
				if resp.TTL != -1 {
					t.Errorf("lease %x still alive after Shutdown (TTL %d)", e.lease, resp.TTL)
				}
			}
		},
		Stop:  srv.Stop,
		Start: srv.Start,
		Restored: func(t testing.TB, service, address string) {
			testsvc.Eventually(t, "the entry under a live lease", func() bool {
				e, ok := entry(t, service, address)
				return ok && e.lease != 0 && liveLease(e.lease)
			})
		},
		// A crashed server's etcd client is closed: no revoke, no delete, its lease is no
		// longer renewed and expires after the TTL.
		NewCrashable: func(t testing.TB, address string) (*registry.Registrar, func()) {
			cli := newClient(t, srv)
			return registrarOn(cli)(t, address), func() {
				if err := cli.Close(); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
}}

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
