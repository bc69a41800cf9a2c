package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
	"github.com/brisk-rpc/brisk/server"
)

// TestLayout checks the nodes a brisk server writes against REGISTRY.md, reading them
// straight from ZooKeeper: persistent markers <basePath> ("rpcx_path") and
// <basePath>/<Service> (the service name), and one ephemeral node of the server's session
// per service holding the metadata.
func TestLayout(t *testing.T) {
	zkp := startZK(t)
	raw := connect(t, zkp.Addr())
	tests := []struct {
		name, basePath string
		base           string // the base path node
		parents        []string
	}{
		{"default", "", "/rpcx_test", nil},
		{"given", "rpcx_test/", "/rpcx_test", nil},
		{"multi-level", "/brisk/apps/rpcx", "/brisk/apps/rpcx", []string{"/brisk", "/brisk/apps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := connect(t, zkp.Addr())
			ln := testsvc.Listen(t)
			addr := "tcp@" + ln.Addr().String()
			reg, err := zookeeper.NewRegistrar(conn, addr, fast(registry.WithBasePath(tt.basePath))...)
			if err != nil {
				t.Fatal(err)
			}
			s := server.NewServer(server.WithRegistrar(reg))
			services := map[string]string{"Arith": "weight=10&group=a", "Echo": "group=b&state=active"}
			for name, md := range services {
				if err := s.RegisterName(name, testsvc.NewArith(), md); err != nil {
					t.Fatal(err)
				}
			}
			testsvc.ServeOn(t, s, ln)

			persistent := func(p, want string) {
				t.Helper()
				data, stat, ok := node(t, raw, p)
				if !ok {
					t.Fatalf("%s missing", p)
				}
				if data != want || stat.EphemeralOwner != 0 {
					t.Errorf("%s = %q (ephemeral owner %x), want persistent %q", p, data, stat.EphemeralOwner, want)
				}
			}
			for _, p := range tt.parents {
				persistent(p, "")
			}
			persistent(tt.base, "rpcx_path")
			children, _, err := raw.Children(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(children)
			if !slices.Equal(children, []string{"Arith", "Echo"}) {
				t.Errorf("children of %s = %v, want [Arith Echo]", tt.base, children)
			}
			for name, md := range services {
				sp := tt.base + "/" + name
				persistent(sp, name)
				children, _, err := raw.Children(sp)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(children, []string{addr}) {
					t.Errorf("children of %s = %v, want [%s]", sp, children, addr)
				}
				// The registrar strips state=active: only state=inactive means anything.
				want := registry.WithState(md, false)
				data, stat, ok := node(t, raw, sp+"/"+addr)
				if !ok || data != want || stat.EphemeralOwner != conn.SessionID() {
					t.Errorf("%s/%s = %q (owner %x, present %v), want %q owned by session %x",
						sp, addr, data, stat.EphemeralOwner, ok, want, conn.SessionID())
				}
			}
		})
	}
}

// TestStaleEntryReplaced: a node left at the server's path by someone else (here a
// persistent one; in practice a crashed process whose session has not expired yet) is
// deleted and created again as this session's ephemeral node.
func TestStaleEntryReplaced(t *testing.T) {
	zkp := startZK(t)
	raw := connect(t, zkp.Addr())
	const addr = "tcp@127.0.0.1:8972"
	p := registry.Key("", "Arith", addr)
	for _, q := range []string{"/rpcx_test", "/rpcx_test/Arith", p} {
		if _, err := raw.Create(q, []byte("stale"), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, zkp.Addr())
	reg, err := zookeeper.NewRegistrar(conn, addr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(context.Background(), "Arith", "weight=2"); err != nil {
		t.Fatal(err)
	}
	if data, stat, _ := node(t, raw, p); data != "weight=2" || stat.EphemeralOwner != conn.SessionID() {
		t.Errorf("%s = %q owned by %x, want weight=2 owned by %x", p, data, stat.EphemeralOwner, conn.SessionID())
	}
	for q, want := range map[string]string{"/rpcx_test": "rpcx_path", "/rpcx_test/Arith": "Arith"} {
		if data, _, _ := node(t, raw, q); data != want {
			t.Errorf("marker %s = %q, want %q", q, data, want)
		}
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := node(t, raw, p); ok {
		t.Errorf("%s still there after Close", p)
	}
}

// TestRegisterDiscoverCall: a brisk server advertised through the plugin is found by a
// Discovery, and an XClient over it calls the server.
func TestRegisterDiscoverCall(t *testing.T) {
	zkp := startZK(t)
	a := serveArith(t, connect(t, zkp.Addr()), "weight=4&group=g")
	d := discover(t, connect(t, zkp.Addr()))
	list := waitList(t, d, a.addr)
	if list[0].Weight != 4 || !list[0].InGroup("g") {
		t.Errorf("discovered %+v, want weight 4 in group g", list[0])
	}
	if err := d.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	mul(t, xclient(t, d, client.Failfast), 6, 7)
}

// TestMetadataChangesReachTheClient: a new weight, inactive and active again.
func TestMetadataChangesReachTheClient(t *testing.T) {
	zkp := startZK(t)
	a := serveArith(t, connect(t, zkp.Addr()), "")
	d := discover(t, connect(t, zkp.Addr()))
	if list := waitList(t, d, a.addr); list[0].Weight != 1 {
		t.Fatalf("weight %d, want the default 1", list[0].Weight)
	}
	ctx := context.Background()
	if err := a.reg.Register(ctx, "Arith", "weight=5"); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "weight=5 to reach the client", func() bool {
		list := d.Servers()
		return len(list) == 1 && list[0].Weight == 5
	})
	if err := a.reg.SetInactive(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitList(t, d) // inactive servers are filtered out by default
	if err := a.reg.SetInactive(ctx, false); err != nil {
		t.Fatal(err)
	}
	if list := waitList(t, d, a.addr); list[0].Weight != 5 {
		t.Errorf("weight %d after reactivation, want 5", list[0].Weight)
	}
}

// TestShutdownWithdraws: a clean Shutdown deletes the entry before it returns.
func TestShutdownWithdraws(t *testing.T) {
	zkp := startZK(t)
	raw := connect(t, zkp.Addr())
	a := serveArith(t, connect(t, zkp.Addr()), "")
	d := discover(t, connect(t, zkp.Addr()))
	waitList(t, d, a.addr)
	if err := a.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := registry.Key("", "Arith", a.addr)
	if _, _, ok := node(t, raw, p); ok {
		t.Fatalf("%s still there after Shutdown", p)
	}
	waitList(t, d)
}

// TestDiscoveryBeforeAnyServer: the service node does not even exist yet; the list is
// empty without an error, and the server shows up once it registers.
func TestDiscoveryBeforeAnyServer(t *testing.T) {
	zkp := startZK(t)
	d := discover(t, connect(t, zkp.Addr()))
	testsvc.Eventually(t, "the first list", func() bool { return d.Err() == nil })
	if got := d.Servers(); len(got) != 0 {
		t.Fatalf("Servers = %v, want none", got)
	}
	ch, stop := d.Watch()
	defer stop()
	a := serveArith(t, connect(t, zkp.Addr()), "")
	for {
		list := testsvc.Recv(t, ch, "the server to appear")
		if slices.Equal(keys(list), []string{a.addr}) {
			break
		}
	}
	mul(t, xclient(t, d, client.Failfast), 3, 3)
}

// TestRegistryStopAndRestart kills the ZooKeeper server during a watch: the client keeps
// its list and still calls the server it knows, and reports the outage; once ZooKeeper is
// back, a new server registering is seen, and the first server's entry belongs to its
// connection's current session (re-created by the refresh if the session was lost).
func TestRegistryStopAndRestart(t *testing.T) {
	zkp := startZK(t)
	aConn := connect(t, zkp.Addr())
	a := serveArith(t, aConn, "")
	d := discover(t, connect(t, zkp.Addr()))
	x := xclient(t, d, client.Failfast)
	waitList(t, d, a.addr)
	mul(t, x, 2, 3)

	zkp.Stop()
	testsvc.Eventually(t, "Err to report the outage", func() bool { return d.Err() != nil })
	if got := keys(d.Servers()); !slices.Equal(got, []string{a.addr}) {
		t.Fatalf("list during the outage = %v, want [%s]", got, a.addr)
	}
	mul(t, x, 4, 5)

	zkp.Start()
	b := serveArith(t, connect(t, zkp.Addr()), "")
	waitList(t, d, a.addr, b.addr)
	testsvc.Eventually(t, "Err to clear", func() bool { return d.Err() == nil })
	testsvc.Eventually(t, "a's entry owned by its current session", func() bool {
		_, stat, err := aConn.Get(registry.Key("", "Arith", a.addr))
		return err == nil && stat.EphemeralOwner == aConn.SessionID()
	})
	mul(t, x, 6, 7)
}

// TestCrashedServerDisappears: server A dies without deregistering. Its registrar's
// connection is cut off the network (no close request, as in a crash) and A stops
// serving; ZooKeeper expires its session after the session timeout and deletes its
// entry; the client drops A and every call (Failfast: no second try) goes to B.
func TestCrashedServerDisappears(t *testing.T) {
	zkp := startZK(t)
	d := discover(t, connect(t, zkp.Addr()))
	b := serveArith(t, connect(t, zkp.Addr()), "")

	var part partition
	aConn := connectVia(t, zkp.Addr(), part.dial)
	ln := testsvc.Listen(t)
	aAddr := "tcp@" + ln.Addr().String()
	aReg, err := zookeeper.NewRegistrar(aConn, aAddr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	// The registrar is closed only at the end (it fails then: A is off the network).
	t.Cleanup(func() { _ = aReg.Close(context.Background()) })
	aSrv := server.NewServer() // advertised by hand, so closing it withdraws nothing
	if err := aSrv.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- aSrv.ServeListener(ln) }()
	if err := aReg.Register(context.Background(), "Arith", ""); err != nil {
		t.Fatal(err)
	}
	x := xclient(t, d, client.Failfast)
	waitList(t, d, aAddr, b.addr)
	for i := range 4 {
		mul(t, x, i, 2)
	}

	part.set(true)
	if err := aSrv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, served, "A's ServeListener to return"); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("ServeListener = %v", err)
	}
	waitList(t, d, b.addr)
	testsvc.Eventually(t, "the XClient to drop A", func() bool {
		e := x.Endpoints()
		return len(e) == 1 && e[0].Key == b.addr
	})
	for i := range 10 {
		mul(t, x, i, 3)
	}
}

// TestExpiredSessionEntriesWrittenAgain: a server cut off long enough for its session to
// expire loses its entry; once back, the client library opens a new session and the
// registrar's refresh writes the entry again, with its metadata.
func TestExpiredSessionEntriesWrittenAgain(t *testing.T) {
	zkp := startZK(t)
	d := discover(t, connect(t, zkp.Addr()))
	var part partition
	aConn := connectVia(t, zkp.Addr(), part.dial)
	a := serveArith(t, aConn, "weight=3")
	waitList(t, d, a.addr)
	old := aConn.SessionID()

	part.set(true)
	waitList(t, d) // the session expired: ZooKeeper deleted the entry
	part.set(false)
	if list := waitList(t, d, a.addr); list[0].Weight != 3 {
		t.Errorf("weight %d, want 3", list[0].Weight)
	}
	if sid := aConn.SessionID(); sid == old {
		t.Errorf("session %x did not change", sid)
	}
}

// TestBurst: many registrations, metadata changes and withdrawals in a row; the watcher's
// last list is the final state.
func TestBurst(t *testing.T) {
	zkp := startZK(t)
	conn := connect(t, zkp.Addr())
	d := discover(t, connect(t, zkp.Addr()))
	ch, stop := d.Watch()
	defer stop()
	ctx := context.Background()
	var want []string
	weights := map[string]int{}
	for i := range 20 {
		addr := fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i)
		reg, err := zookeeper.NewRegistrar(conn, addr, fast()...)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(ctx, "Arith", ""); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if err := reg.Close(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Cleanup(func() { _ = reg.Close(ctx) })
		if i%4 == 0 {
			if err := reg.Register(ctx, "Arith", fmt.Sprintf("weight=%d", i+2)); err != nil {
				t.Fatal(err)
			}
			weights[addr] = i + 2
		}
		want = append(want, addr)
	}
	slices.Sort(want)
	for {
		list := testsvc.Recv(t, ch, fmt.Sprintf("a list of %v", want))
		if !slices.Equal(keys(list), want) {
			continue
		}
		for _, s := range list {
			w, ok := weights[s.Key]
			if !ok {
				w = 1
			}
			if s.Weight != w {
				t.Errorf("%s: weight %d, want %d", s.Key, s.Weight, w)
			}
		}
		return
	}
}

// TestNewRejectsBadInput checks the constructors' validation; no server is needed.
func TestNewRejectsBadInput(t *testing.T) {
	conn, _, err := zk.Connect([]string{"127.0.0.1:1"}, sessionTimeout, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	registrars := []struct {
		name string
		conn *zk.Conn
		addr string
		opts []registry.Option
	}{
		{"nil conn", nil, "tcp@127.0.0.1:1", nil},
		{"no address", conn, "", nil},
		{"no port", conn, "tcp@127.0.0.1", nil},
		{"unix path", conn, "unix@/run/app.sock", nil},
		{"reserved base path", conn, "tcp@127.0.0.1:1", []registry.Option{registry.WithBasePath("/zookeeper")}},
		{"dot base path", conn, "tcp@127.0.0.1:1", []registry.Option{registry.WithBasePath("/a/../b")}},
		{"empty element", conn, "tcp@127.0.0.1:1", []registry.Option{registry.WithBasePath("/a//b")}},
	}
	for _, tt := range registrars {
		if r, err := zookeeper.NewRegistrar(tt.conn, tt.addr, tt.opts...); err == nil {
			_ = r.Close(context.Background())
			t.Errorf("NewRegistrar(%s) succeeded", tt.name)
		}
	}
	discoveries := []struct {
		name    string
		conn    *zk.Conn
		service string
		opts    []registry.Option
	}{
		{"nil conn", nil, "Arith", nil},
		{"no service", conn, "", nil},
		{"slash", conn, "a/b", nil},
		{"reserved base path", conn, "Arith", []registry.Option{registry.WithBasePath("zookeeper/x")}},
	}
	for _, tt := range discoveries {
		if d, err := zookeeper.NewDiscovery(tt.conn, tt.service, tt.opts...); err == nil {
			_ = d.Close()
			t.Errorf("NewDiscovery(%s) succeeded", tt.name)
		}
	}
	// A bare host:port is taken as tcp.
	r, err := zookeeper.NewRegistrar(conn, "127.0.0.1:8972")
	if err != nil {
		t.Fatal(err)
	}
	if r.Address() != "tcp@127.0.0.1:8972" {
		t.Errorf("Address = %q", r.Address())
	}
	_ = r.Close(context.Background())
}
