package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/server"
)

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
			ln := testsvc.Listen(t)
			addr := "tcp@" + ln.Addr().String()
			reg, err := etcd.NewRegistrar(connect(t, srv), addr, fast(registry.WithBasePath(tt.basePath))...)
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

// TestRegisterDiscoverCall: a brisk server advertised through the plugin is found by a
// Discovery, and an XClient over it calls the server.
func TestRegisterDiscoverCall(t *testing.T) {
	srv := startEtcd(t)
	a := serveArith(t, connect(t, srv), "weight=4&group=g")
	d := discover(t, connect(t, srv))
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
	srv := startEtcd(t)
	cli := connect(t, srv)
	a := serveArith(t, cli, "")
	d := discover(t, cli)
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

// TestShutdownWithdraws: a clean Shutdown deletes the entry and revokes the lease before
// it returns.
func TestShutdownWithdraws(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "")
	d := discover(t, connect(t, srv))
	waitList(t, d, a.addr)
	key := registry.Key("", "Arith", a.addr)
	lease := dump(t, raw, key)[key].lease
	if err := a.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, raw, key); len(got) != 0 {
		t.Fatalf("%s still there after Shutdown: %v", key, got)
	}
	resp, err := raw.TimeToLive(context.Background(), lease)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TTL != -1 {
		t.Errorf("lease %x still alive after Shutdown (TTL %d)", lease, resp.TTL)
	}
	waitList(t, d)
}

// TestDiscoveryBeforeAnyServer: nothing is registered yet; the list is empty without an
// error, and the server shows up once it registers.
func TestDiscoveryBeforeAnyServer(t *testing.T) {
	srv := startEtcd(t)
	d := discover(t, connect(t, srv))
	testsvc.Eventually(t, "the first list", func() bool { return d.Err() == nil })
	if got := d.Servers(); len(got) != 0 {
		t.Fatalf("Servers = %v, want none", got)
	}
	ch, stop := d.Watch()
	defer stop()
	a := serveArith(t, connect(t, srv), "")
	for {
		list := testsvc.Recv(t, ch, "the server to appear")
		if slices.Equal(keys(list), []string{a.addr}) {
			break
		}
	}
	mul(t, xclient(t, d, client.Failfast), 3, 3)
}

// TestRegistryStopAndRestart stops etcd during a watch: the client keeps its list, still
// calls the server it knows and reports the outage; once etcd is back (same data, same
// ports), a new server registering is seen, and the first server's entry is still there
// under a live lease.
func TestRegistryStopAndRestart(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "")
	d := discover(t, connect(t, srv))
	x := xclient(t, d, client.Failfast)
	waitList(t, d, a.addr)
	waitEndpoints(t, x, a.addr)
	mul(t, x, 2, 3)

	srv.Stop()
	testsvc.Eventually(t, "Err to report the outage", func() bool { return d.Err() != nil })
	t.Logf("Err during the outage: %v", d.Err())
	if got := keys(d.Servers()); !slices.Equal(got, []string{a.addr}) {
		t.Fatalf("list during the outage = %v, want [%s]", got, a.addr)
	}
	mul(t, x, 4, 5)

	srv.Start()
	b := serveArith(t, connect(t, srv), "")
	waitList(t, d, a.addr, b.addr)
	testsvc.Eventually(t, "Err to clear", func() bool { return d.Err() == nil })
	key := registry.Key("", "Arith", a.addr)
	testsvc.Eventually(t, "a's entry under a live lease", func() bool {
		e, ok := dump(t, raw, key)[key]
		if !ok || e.lease == 0 {
			return false
		}
		resp, err := raw.TimeToLive(context.Background(), e.lease)
		return err == nil && resp.TTL > 0
	})
	mul(t, x, 6, 7)
}

// TestCrashedServerDisappears: server A dies without deregistering. Its registrar's etcd
// client is closed (no revoke, no delete: its lease is simply no longer renewed) and A stops
// serving; etcd expires the lease after the TTL and deletes its entry; the client drops A
// and every call (Failfast: no second try) goes to B.
func TestCrashedServerDisappears(t *testing.T) {
	srv := startEtcd(t)
	d := discover(t, connect(t, srv))
	b := serveArith(t, connect(t, srv), "")

	aCli := newClient(t, srv)
	ln := testsvc.Listen(t)
	aAddr := "tcp@" + ln.Addr().String()
	aReg, err := etcd.NewRegistrar(aCli, aAddr, fast()...)
	if err != nil {
		t.Fatal(err)
	}
	// The registrar is closed only at the end (it fails then: its client is closed).
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
	waitEndpoints(t, x, aAddr, b.addr)
	for i := range 4 {
		mul(t, x, i, 2)
	}

	crashed := time.Now()
	if err := aCli.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("client closed in %v", time.Since(crashed))
	if err := aSrv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, served, "A's ServeListener to return"); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("ServeListener = %v", err)
	}
	waitList(t, d, b.addr)
	t.Logf("A dropped %v after the crash", time.Since(crashed))
	waitEndpoints(t, x, b.addr)
	for i := range 10 {
		mul(t, x, i, 3)
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
	d := discover(t, connect(t, srv))
	if list := waitList(t, d, addr); list[0].Weight != 6 {
		t.Errorf("weight %d, want 6", list[0].Weight)
	}
	mul(t, xclient(t, d, client.Failfast), 7, 8)
}

// TestLostLeaseReplaced: the lease disappears under a running server (revoked here; in
// practice it expired while the server could not reach etcd). The next refresh finds it
// gone, grants a new one and writes the entry again, metadata included.
func TestLostLeaseReplaced(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "weight=3")
	d := discover(t, connect(t, srv))
	waitList(t, d, a.addr)
	key := registry.Key("", "Arith", a.addr)
	old := dump(t, raw, key)[key].lease
	if _, err := raw.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the entry under a new lease", func() bool {
		e, ok := dump(t, raw, key)[key]
		return ok && e.lease != 0 && e.lease != old && e.value == "weight=3"
	})
	if list := waitList(t, d, a.addr); list[0].Weight != 3 {
		t.Errorf("weight %d, want 3", list[0].Weight)
	}
}

// TestTamperedEntryRestored: an entry deleted or overwritten by someone else is written
// back, with the server's value and lease, at the next refresh.
func TestTamperedEntryRestored(t *testing.T) {
	srv := startEtcd(t)
	raw := connect(t, srv)
	a := serveArith(t, connect(t, srv), "weight=2")
	key := registry.Key("", "Arith", a.addr)
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
	d := discover(t, connect(t, srv))
	if list := waitList(t, d, "tcp@127.0.0.1:1"); list[0].Weight != 7 {
		t.Errorf("weight %d, want 7", list[0].Weight)
	}
}

// TestBurst: many registrations, metadata changes and withdrawals in a row; the watcher's
// last list is the final state.
func TestBurst(t *testing.T) {
	srv := startEtcd(t)
	cli := connect(t, srv)
	d := discover(t, connect(t, srv))
	ch, stop := d.Watch()
	defer stop()
	ctx := context.Background()
	var want []string
	weights := map[string]int{}
	for i := range 20 {
		addr := fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i)
		reg, err := etcd.NewRegistrar(cli, addr, fast()...)
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
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	registrars := []struct {
		name string
		cli  *clientv3.Client
		addr string
		opts []registry.Option
	}{
		{"nil client", nil, "tcp@127.0.0.1:1", nil},
		{"no address", cli, "", nil},
		{"no port", cli, "tcp@127.0.0.1", nil},
		{"unix path", cli, "unix@/run/app.sock", nil},
		{"empty element", cli, "tcp@127.0.0.1:1", []registry.Option{registry.WithBasePath("/a//b")}},
	}
	for _, tt := range registrars {
		if r, err := etcd.NewRegistrar(tt.cli, tt.addr, tt.opts...); err == nil {
			_ = r.Close(context.Background())
			t.Errorf("NewRegistrar(%s) succeeded", tt.name)
		}
	}
	discoveries := []struct {
		name    string
		cli     *clientv3.Client
		service string
		opts    []registry.Option
	}{
		{"nil client", nil, "Arith", nil},
		{"no service", cli, "", nil},
		{"slash", cli, "a/b", nil},
		{"empty element", cli, "Arith", []registry.Option{registry.WithBasePath("a//b")}},
	}
	for _, tt := range discoveries {
		if d, err := etcd.NewDiscovery(tt.cli, tt.service, tt.opts...); err == nil {
			_ = d.Close()
			t.Errorf("NewDiscovery(%s) succeeded", tt.name)
		}
	}
	// A bare host:port is taken as tcp.
	r, err := etcd.NewRegistrar(cli, "127.0.0.1:8972")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if r.Address() != "tcp@127.0.0.1:8972" {
		t.Errorf("Address = %q, want tcp@127.0.0.1:8972", r.Address())
	}
}
