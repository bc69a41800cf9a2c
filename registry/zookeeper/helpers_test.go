package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
	"github.com/brisk-rpc/brisk/server"
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

// arithServer is a brisk server of testsvc's Arith advertised through a ZooKeeper
// Registrar on conn.
type arithServer struct {
	s    *server.Server
	reg  *registry.Registrar
	addr string // network@host:port
}

// serveArith starts a brisk server on loopback that registers Arith with metadata through
// a Registrar on conn (server.WithRegistrar), closed at cleanup.
func serveArith(t testing.TB, conn *zk.Conn, metadata string, opts ...registry.Option) *arithServer {
	t.Helper()
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	reg, err := zookeeper.NewRegistrar(conn, addr, fast(opts...)...)
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

// discover starts a Discovery of Arith on conn, closed at cleanup.
func discover(t testing.TB, conn *zk.Conn, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	d, err := zookeeper.NewDiscovery(conn, "Arith", fast(opts...)...)
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
