package etcd_test

import (
	"context"
	"maps"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/server"
)

// TestSuite runs the behaviours every backend shares against an embedded etcd.
func TestSuite(t *testing.T) { registrytest.Run(t, backend) }

// TestLayout checks the keys a brisk server writes against REGISTRY.md, reading them
// straight from etcd: markers <basePath> = "rpcx_path" and <basePath>/<Service> = the
// service name without a lease, and one entry per service holding the metadata, all
// entries bound to the same lease with the configured TTL.
func TestLayout(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	tests := []struct {
		name, basePath string
		base           string // the base path key
	}{
		{"default", "", "/rpcx_test"},
		{"given", "rpcx_test/", "/rpcx_test"},
		{"multi-level", "/brisk/apps/rpcx", "/brisk/apps/rpcx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := registrytest.LayoutServices()
			addr := registrytest.ServeServices(t, func(t testing.TB, addr string) *registry.Registrar {
				return registrytest.MustRegistrar(t)(etcd.NewRegistrar(connect(t, srv), addr, fast(registry.WithBasePath(tt.basePath))...))
			}, services)

			got := dump(t, raw, tt.base)
			lease := got[tt.base+"/Arith/"+addr].lease
			if lease == 0 {
				t.Fatalf("the Arith entry has no lease: %v", got)
			}
			want := map[string]kv{tt.base: {"rpcx_path", 0}}
			for name, md := range services {
				want[tt.base+"/"+name] = kv{name, 0}
				// The registrar strips state=active: only state=inactive means anything.
				want[tt.base+"/"+name+"/"+addr] = kv{registry.WithState(md, false), lease}
			}
			if !maps.Equal(got, want) {
				t.Errorf("keys under %s:\n got %v\nwant %v", tt.base, got, want)
			}
			ttlResp, err := raw.TimeToLive(context.Background(), lease)
			if err != nil {
				t.Fatal(err)
			}
			if ttlResp.GrantedTTL != int64(ttl.Seconds()) {
				t.Errorf("lease TTL %ds, want %v", ttlResp.GrantedTTL, ttl)
			}
		})
	}
}

// TestRegisterWhileRegistryDown: a server starting while etcd is down is served but not
// advertised (RegisterName says so); the registrar keeps trying and the entry appears once
// etcd is up.
func TestRegisterWhileRegistryDown(t *testing.T) {
	srv := startEtcd(t)
	cli := connect(t, srv)
	srv.Stop()
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	reg, err := etcd.NewRegistrar(cli, addr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=6"); err == nil {
		t.Fatal("RegisterName succeeded while etcd is down")
	}
	testsvc.ServeOn(t, s, ln)
	srv.Start()
	d := discover(t, connect(t, srv), "Arith")
	if list := registrytest.WaitList(t, d, addr); list[0].Weight != 6 {
		t.Errorf("weight %d, want 6", list[0].Weight)
	}
	registrytest.Mul(t, registrytest.XClient(t, "Arith", d, client.Failfast), 7, 8)
}

// TestLostLeaseReplaced: the lease disappears under a running server (revoked here; in
// practice it expired while the server could not reach etcd). The next refresh finds it
// gone, grants a new one and writes the entry again, metadata included.
func TestLostLeaseReplaced(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "weight=3")
	d := discover(t, connect(t, srv), "Arith")
	registrytest.WaitList(t, d, a.Addr)
	key := registry.Key("", "Arith", a.Addr)
	old := dump(t, raw, key)[key].lease
	if _, err := raw.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the entry under a new lease", func() bool {
		e, ok := dump(t, raw, key)[key]
		return ok && e.lease != 0 && e.lease != old && e.value == "weight=3"
	})
	if list := registrytest.WaitList(t, d, a.Addr); list[0].Weight != 3 {
		t.Errorf("weight %d, want 3", list[0].Weight)
	}
}

// TestTamperedEntryRestored: an entry deleted or overwritten by someone else is written
// back, with the server's value and lease, at the next refresh.
func TestTamperedEntryRestored(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "weight=2")
	key := registry.Key("", "Arith", a.Addr)
	orig := dump(t, raw, key)[key]
	ctx := context.Background()
	tamper := []struct {
		name string
		do   func() error
	}{
		{"deleted", func() error { _, err := raw.Delete(ctx, key); return err }},
		{"overwritten", func() error { _, err := raw.Put(ctx, key, "weight=9"); return err }},
	}
	for _, tt := range tamper {
		if err := tt.do(); err != nil {
			t.Fatal(err)
		}
		testsvc.Eventually(t, "the entry "+tt.name+" to be restored", func() bool {
			return dump(t, raw, key)[key] == orig
		})
	}
}

// TestCloseSparesAnotherProcessEntry: a server restarted at the same address registers
// under its own lease; when the old process's registrar closes late, it leaves the new
// entry alone.
func TestCloseSparesAnotherProcessEntry(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	ctx := context.Background()
	const addr = "tcp@127.0.0.1:8972"
	key := registry.Key("", "Arith", addr)
	oldReg, err := etcd.NewRegistrar(connect(t, srv), addr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := oldReg.Register(ctx, "Arith", "weight=1"); err != nil {
		t.Fatal(err)
	}
	newReg, err := etcd.NewRegistrar(connect(t, srv), addr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	defer newReg.Close(ctx)
	if err := newReg.Register(ctx, "Arith", "weight=2"); err != nil {
		t.Fatal(err)
	}
	if err := oldReg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if e := dump(t, raw, key)[key]; e.value != "weight=2" {
		t.Fatalf("%s = %+v after the old registrar closed, want weight=2", key, e)
	}
}

// TestListOnlyEntries: keys deeper than one level below the service prefix, the markers
// and other services sharing the name's prefix are not servers.
func TestListOnlyEntries(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	ctx := context.Background()
	for k, v := range map[string]string{
		"/rpcx_test":                            "rpcx_path",
		"/rpcx_test/Arith":                      "Arith",
		"/rpcx_test/Arith/tcp@127.0.0.1:1":      "weight=7",
		"/rpcx_test/Arith/tcp@127.0.0.1:2/deep": "weight=1",
		"/rpcx_test/Arith/":                     "",
		"/rpcx_test/Arithmetic/tcp@127.0.0.1:3": "",
		"/rpcx_test/Arith2/tcp@127.0.0.1:4":     "",
	} {
		if _, err := raw.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	d := discover(t, connect(t, srv), "Arith")
	if list := registrytest.WaitList(t, d, "tcp@127.0.0.1:1"); list[0].Weight != 7 {
		t.Errorf("weight %d, want 7", list[0].Weight)
	}
}

// TestNewRejectsBadInput checks the constructors' validation; no server is needed.
func TestNewRejectsBadInput(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if r, err := etcd.NewRegistrar(nil, "tcp@127.0.0.1:1"); err == nil {
		_ = r.Close(context.Background())
		t.Error("NewRegistrar(nil client) succeeded")
	}
	if d, err := etcd.NewDiscovery(nil, "Arith"); err == nil {
		_ = d.Close()
		t.Error("NewDiscovery(nil client) succeeded")
	}
	registrytest.CheckConstructors(t, registrytest.Constructors{
		NewRegistrar: func(address string, opts ...registry.Option) (*registry.Registrar, error) {
			return etcd.NewRegistrar(cli, address, opts...)
		},
		NewDiscovery: func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return etcd.NewDiscovery(cli, service, opts...)
		},
		BadBasePaths: []string{"/a//b", "a//b"},
	})
}
