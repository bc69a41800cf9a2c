package consul_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/consul"
)

// TestSuite runs the behaviours every backend shares against Consul (the stand-in agent
// unless CONSUL_HTTP_ADDR is set).
func TestSuite(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, backend)
}

// TestLayout checks the keys a brisk server writes against REGISTRY.md, reading them
// straight from Consul: no leading slash, plain marker keys <basePath> ("rpcx_path") and
// <basePath>/<Service> (the service name), and one key per service holding the metadata,
// acquired by a session with behaviour delete and Consul's minimum TTL.
func TestLayout(t *testing.T) {
	tg := newTarget(t)
	tests := []struct {
		name, basePath string
		base           string // the base path key
	}{
		{"default", "", "rpcx_test"},
		{"given", "rpcx_test/", "rpcx_test"},
		{"leading slash", "/rpcx_test", "rpcx_test"},
		{"multi-level", "/brisk/apps/rpcx", "brisk/apps/rpcx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tg.raw.KV().DeleteTree(tt.base, nil); err != nil {
				t.Fatal(err)
			}
			services := registrytest.LayoutServices()
			addr := registrytest.ServeServices(t, func(t testing.TB, addr string) *registry.Registrar {
				return registrytest.MustRegistrar(t)(consul.NewRegistrar(tg.client(t), addr, fast(registry.WithBasePath(tt.basePath))...))
			}, services)

			list, _, err := tg.raw.KV().List(tt.base+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range list {
				got = append(got, kv.Key)
			}
			want := []string{
				tt.base + "/Arith", tt.base + "/Arith/" + addr,
				tt.base + "/Echo", tt.base + "/Echo/" + addr,
			}
			if !slices.Equal(got, want) {
				t.Errorf("keys under %s/ = %q, want %q", tt.base, got, want)
			}

			plain := func(key, want string) {
				t.Helper()
				kv := tg.get(t, key)
				if kv == nil {
					t.Fatalf("%s missing", key)
				}
				if string(kv.Value) != want || kv.Session != "" {
					t.Errorf("%s = %q (session %q), want %q held by no session", key, kv.Value, kv.Session, want)
				}
			}
			plain(tt.base, "rpcx_path")
			var session string
			for name, md := range services {
				plain(tt.base+"/"+name, name)
				key := tt.base + "/" + name + "/" + addr
				kv := tg.get(t, key)
				if kv == nil {
					t.Fatalf("%s missing", key)
				}
				// The registrar strips state=active: only state=inactive means anything.
				if want := registry.WithState(md, false); string(kv.Value) != want || kv.Session == "" {
					t.Errorf("%s = %q (session %q), want %q held by a session", key, kv.Value, kv.Session, want)
				}
				if session != "" && kv.Session != session {
					t.Errorf("%s held by session %s, the other entry by %s: want one session per server", key, kv.Session, session)
				}
				session = kv.Session
			}
			se, _, err := tg.raw.Session().Info(session, nil)
			if err != nil || se == nil {
				t.Fatalf("session %s: %+v, %v", session, se, err)
			}
			if se.Behavior != api.SessionBehaviorDelete || se.TTL != "10s" {
				t.Errorf("session behaviour %q TTL %q, want delete and 10s (Consul's minimum)", se.Behavior, se.TTL)
			}
		})
	}
}

// TestSessionLostEntriesWrittenAgain: the server's session is destroyed behind its back
// (as after a partition longer than the TTL, or by an operator), which deletes its
// entries; at the next refresh the renewal fails, the registrar creates a new session and
// writes its entries again, metadata included.
func TestSessionLostEntriesWrittenAgain(t *testing.T) {
	tg := newTarget(t)
	a := serveArith(t, tg, tg.client(t), "weight=3")
	d := discover(t, tg, tg.client(t), "Arith")
	registrytest.WaitList(t, d, a.Addr)
	key := tg.key("Arith", a.Addr)
	old := tg.get(t, key).Session
	if _, err := tg.raw.Session().Destroy(old, nil); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the entry under a new session", func() bool {
		kv := tg.get(t, key)
		return kv != nil && kv.Session != "" && kv.Session != old && string(kv.Value) == "weight=3"
	})
	if list := registrytest.WaitList(t, d, a.Addr); list[0].Weight != 3 {
		t.Errorf("weight %d, want 3", list[0].Weight)
	}
}

// TestLostEntryWrittenAgain: an entry deleted by someone else while the session lives is
// written again at the next refresh.
func TestLostEntryWrittenAgain(t *testing.T) {
	tg := newTarget(t)
	a := serveArith(t, tg, tg.client(t), "weight=2")
	key := tg.key("Arith", a.Addr)
	session := tg.get(t, key).Session
	if _, err := tg.raw.KV().Delete(key, nil); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the entry written again", func() bool {
		kv := tg.get(t, key)
		return kv != nil && kv.Session == session && string(kv.Value) == "weight=2"
	})
}

// TestStaleEntryReplaced: a key at the server's address held by another session (a
// crashed process whose session has not expired yet) is deleted and acquired again.
func TestStaleEntryReplaced(t *testing.T) {
	tg := newTarget(t)
	stale, _, err := tg.raw.Session().Create(&api.SessionEntry{TTL: "60s", Behavior: api.SessionBehaviorDelete}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tg.raw.Session().Destroy(stale, nil) })
	const addr = "tcp@127.0.0.1:8972"
	key := tg.key("Arith", addr)
	if ok, _, err := tg.raw.KV().Acquire(&api.KVPair{Key: key, Value: []byte("stale"), Session: stale}, nil); err != nil || !ok {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	reg, err := consul.NewRegistrar(tg.client(t), addr, tg.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(context.Background(), "Arith", "weight=2"); err != nil {
		t.Fatal(err)
	}
	kv := tg.get(t, key)
	if kv == nil || string(kv.Value) != "weight=2" || kv.Session == "" || kv.Session == stale {
		t.Errorf("%s = %+v, want weight=2 held by the registrar's session", key, kv)
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kv := tg.get(t, key); kv != nil {
		t.Errorf("%s still there after Close: %+v", key, kv)
	}
}

// TestNewRejectsBadInput checks the constructors' validation; no Consul is needed.
func TestNewRejectsBadInput(t *testing.T) {
	cli := newClient(t, "127.0.0.1:1", nil)
	type newRegistrar func(*api.Client, string, ...registry.Option) (*registry.Registrar, error)
	for name, newReg := range map[string]newRegistrar{
		"NewRegistrar": consul.NewRegistrar, "NewCatalogRegistrar": consul.NewCatalogRegistrar,
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := newReg(nil, "tcp@127.0.0.1:1"); err == nil {
				_ = r.Close(context.Background())
				t.Errorf("%s(nil client) succeeded", name)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("%s(nil) = %v, want the constructor named", name, err)
			}
			if d, err := consul.NewDiscovery(nil, "Arith"); err == nil {
				_ = d.Close()
				t.Error("NewDiscovery(nil client) succeeded")
			}
			registrytest.CheckConstructors(t, registrytest.Constructors{
				NewRegistrar: func(address string, opts ...registry.Option) (*registry.Registrar, error) {
					return newReg(cli, address, opts...)
				},
				NewDiscovery: func(service string, opts ...registry.Option) (*registry.Discovery, error) {
					return consul.NewDiscovery(cli, service, opts...)
				},
				BadBasePaths: []string{"/a//b", "a//b", "/a/../b"},
			})
		})
	}
}

// TestDiscoversForeignEntries: entries another implementation wrote (an rpcx server:
// plain keys, no session) are discovered; the marker keys and keys deeper than
// <basePath>/<Service>/<address> are not entries.
func TestDiscoversForeignEntries(t *testing.T) {
	tg := newTarget(t)
	base := strings.TrimPrefix(tg.base, "/")
	for key, value := range map[string]string{
		base:                                  "rpcx_path",
		base + "/Arith":                       "Arith",
		base + "/Arith/tcp@10.0.0.5:8972":     "weight=7&group=rpcx",
		base + "/Arith/nested/tcp@10.0.0.6:1": "",
		base + "/Arithmetic/tcp@10.0.0.7:1":   "",
	} {
		if _, err := tg.raw.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := discover(t, tg, tg.client(t), "Arith")
	list := registrytest.WaitList(t, d, "tcp@10.0.0.5:8972")
	if list[0].Weight != 7 || !list[0].InGroup("rpcx") {
		t.Errorf("discovered %+v", list[0])
	}
	if _, err := tg.raw.KV().Delete(base+"/Arith/tcp@10.0.0.5:8972", nil); err != nil {
		t.Fatal(err)
	}
	registrytest.WaitList(t, d)
}
