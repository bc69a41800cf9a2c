package zookeeper_test

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
)

// quiet is a zk.Logger that discards go-zookeeper's messages (it logs to the standard
// logger by default).
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// sessionTimeout is the session timeout of the test connections: short, so a crashed
// server's entries vanish quickly (the test servers allow sessions down to 2 ticks).
const sessionTimeout = time.Second

// fast are the settings every test uses, so that refreshes, re-watches and retries happen
// within a fraction of testsvc.Bound.
func fast(more ...registry.Option) []registry.Option {
	return append([]registry.Option{
		registry.WithRefreshInterval(200 * time.Millisecond),
		registry.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		registry.WithTimeout(2 * time.Second),
	}, more...)
}

// connect opens a connection to the ZooKeeper at addr, closed at cleanup.
func connect(t testing.TB, addr string) *zk.Conn {
	t.Helper()
	return connectVia(t, addr, net.DialTimeout)
}

// connectVia is connect with a dialer.
func connectVia(t testing.TB, addr string, dial zk.Dialer) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, sessionTimeout,
		zk.WithLogger(quiet{}), zk.WithLogInfo(false), zk.WithDialer(dial))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(conn.Close)
	testsvc.Eventually(t, "a ZooKeeper session", func() bool { return conn.State() == zk.StateHasSession })
	return conn
}

// registrarOn returns a function making Registrars on conn, with the fast settings.
func registrarOn(conn *zk.Conn) func(t testing.TB, address string) *registry.Registrar {
	return func(t testing.TB, address string) *registry.Registrar {
		t.Helper()
		return registrytest.MustRegistrar(t)(zookeeper.NewRegistrar(conn, address, fast()...))
	}
}

// serveArith starts a brisk server on loopback that registers Arith with metadata through
// a Registrar on conn (server.WithRegistrar), closed at cleanup.
func serveArith(t testing.TB, conn *zk.Conn, metadata string) *registrytest.Server {
	t.Helper()
	return registrytest.Serve(t, registrarOn(conn), "Arith", metadata)
}

// discover starts a Discovery of service on conn, closed at cleanup.
func discover(t testing.TB, conn *zk.Conn, service string, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	return registrytest.MustDiscovery(t)(zookeeper.NewDiscovery(conn, service, fast(opts...)...))
}

// backend is ZooKeeper for registrytest.Run: a ZooKeeper server per test, a connection
// (so a session) per Registrar and Discovery, raw reads of nodes.
var backend = registrytest.Backend{Start: func(t *testing.T) *registrytest.Registry {
	zkp := startZK(t)
	raw := connect(t, zkp.Addr())
	conns := map[string]*zk.Conn{} // each Registrar's connection, by address
	newRegistrar := func(t testing.TB, conn *zk.Conn, address string) *registry.Registrar {
		conns[address] = conn
		return registrarOn(conn)(t, address)
	}
	return &registrytest.Registry{
		NewRegistrar: func(t testing.TB, address string) *registry.Registrar {
			return newRegistrar(t, connect(t, zkp.Addr()), address)
		},
		NewDiscovery: func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery {
			return discover(t, connect(t, zkp.Addr()), service, opts...)
		},
		Entry: func(t testing.TB, service, address string) (string, bool) {
			data, _, ok := node(t, raw, registry.Key("", service, address))
			return data, ok
		},
		Stop:  zkp.Stop,
		Start: zkp.Start,
		// The entry belongs to its connection's current session (written again by the
		// refresh if the session was lost).
		Restored: func(t testing.TB, service, address string) {
			conn := conns[address]
			testsvc.Eventually(t, "the entry owned by its connection's current session", func() bool {
				_, stat, err := conn.Get(registry.Key("", service, address))
				return err == nil && stat.EphemeralOwner == conn.SessionID()
			})
		},
		// A crashed server's connection is cut off the network (no close request, as in
		// a crash): ZooKeeper expires its session after the session timeout.
		NewCrashable: func(t testing.TB, address string) (*registry.Registrar, func()) {
			var part partition
			reg := newRegistrar(t, connectVia(t, zkp.Addr(), part.dial), address)
			return reg, func() { part.set(true) }
		},
	}
}}

// node reads a node straight from ZooKeeper.
func node(t testing.TB, conn *zk.Conn, p string) (string, *zk.Stat, bool) {
	t.Helper()
	data, stat, err := conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) {
		return "", nil, false
	}
	if err != nil {
		t.Fatalf("Get %s: %v", p, err)
	}
	return string(data), stat, true
}

// partition is a zk dialer whose connections the test can cut, to take a client off the
// network as a crash would (without the close request a clean Close sends): its session
// then expires on the server after the session timeout.
type partition struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (p *partition) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return nil, fmt.Errorf("dial %s: partitioned by the test", addr)
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		p.conns = append(p.conns, c)
	}
	return c, err
}

// set cuts (true) or heals (false) the partition.
func (p *partition) set(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// startZK starts a ZooKeeper server for one test.
func startZK(t testing.TB) *realsvc.Process {
	t.Helper()
	return realsvc.ZooKeeper(t)
}
