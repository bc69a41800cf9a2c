package zookeeper_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
)

// TestSuite runs the behaviours every backend shares against a ZooKeeper server.
func TestSuite(t *testing.T) { registrytest.Run(t, backend) }

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
			services := registrytest.LayoutServices()
			addr := registrytest.ServeServices(t, func(t testing.TB, addr string) *registry.Registrar {
				return registrytest.MustRegistrar(t)(zookeeper.NewRegistrar(conn, addr, fast(registry.WithBasePath(tt.basePath))...))
			}, services)

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

// TestExpiredSessionEntriesWrittenAgain: a server cut off long enough for its session to
// expire loses its entry; once back, the client library opens a new session and the
// registrar's refresh writes the entry again, with its metadata.
func TestExpiredSessionEntriesWrittenAgain(t *testing.T) {
	zkp := startZK(t)
	d := discover(t, connect(t, zkp.Addr()), "Arith")
	var part partition
	aConn := connectVia(t, zkp.Addr(), part.dial)
	a := serveArith(t, aConn, "weight=3")
	registrytest.WaitList(t, d, a.Addr)
	old := aConn.SessionID()

	part.set(true)
	registrytest.WaitList(t, d) // the session expired: ZooKeeper deleted the entry
	part.set(false)
	if list := registrytest.WaitList(t, d, a.Addr); list[0].Weight != 3 {
		t.Errorf("weight %d, want 3", list[0].Weight)
	}
	if sid := aConn.SessionID(); sid == old {
		t.Errorf("session %x did not change", sid)
	}
}

// TestNewRejectsBadInput checks the constructors' validation; no server is needed.
func TestNewRejectsBadInput(t *testing.T) {
	conn, _, err := zk.Connect([]string{"127.0.0.1:1"}, sessionTimeout, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if r, err := zookeeper.NewRegistrar(nil, "tcp@127.0.0.1:1"); err == nil {
		_ = r.Close(context.Background())
		t.Error("NewRegistrar(nil conn) succeeded")
	}
	if d, err := zookeeper.NewDiscovery(nil, "Arith"); err == nil {
		_ = d.Close()
		t.Error("NewDiscovery(nil conn) succeeded")
	}
	registrytest.CheckConstructors(t, registrytest.Constructors{
		NewRegistrar: func(address string, opts ...registry.Option) (*registry.Registrar, error) {
			return zookeeper.NewRegistrar(conn, address, opts...)
		},
		NewDiscovery: func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return zookeeper.NewDiscovery(conn, service, opts...)
		},
		BadBasePaths: []string{"/zookeeper", "zookeeper/x", "/a/../b", "/a//b"},
	})
}
