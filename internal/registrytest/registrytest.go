// Package registrytest holds what the tests of the registry backends (registry/etcd,
// registry/zookeeper, registry/redis, registry/consul, registry/mdns) share: helpers that
// serve testsvc's Arith through a backend's Registrar, discover it and call it, and Run, the
// behavioural suite every backend passes against its real registry server.
//
// A backend's test package describes how to start its registry for one test (Backend) and
// calls Run; it keeps in its own files only what depends on the backend: the raw layout,
// stopping and restarting the registry, crashes and expiry, and its quirks.
package registrytest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/server"
)

// Server is a brisk server of a testsvc.Arith advertised through a backend's Registrar.
type Server struct {
	S     *server.Server
	Reg   *registry.Registrar
	Arith *testsvc.Arith
	Addr  string // network@host:port
}

// Serve starts a brisk server on loopback that registers a fresh Arith as service with
// metadata through the Registrar newRegistrar returns for its address
// (server.WithRegistrar). The server is closed at cleanup.
func Serve(t testing.TB, newRegistrar func(t testing.TB, address string) *registry.Registrar, service, metadata string) *Server {
	t.Helper()
	a := &Server{Arith: testsvc.NewArith()}
	a.S, a.Reg, a.Addr = serve(t, newRegistrar, map[string]*testsvc.Arith{service: a.Arith}, map[string]string{service: metadata})
	return a
}

// LayoutServices returns the services (name to metadata) the layout tests register: the
// registrar writes state=active as nothing, since only state=inactive means anything.
func LayoutServices() map[string]string {
	return map[string]string{"Arith": "weight=10&group=a", "Echo": "group=b&state=active"}
}

// ServeServices is Serve for several services (name to metadata), each a fresh Arith. It
// returns the server's address (network@host:port).
func ServeServices(t testing.TB, newRegistrar func(t testing.TB, address string) *registry.Registrar, services map[string]string) string {
	t.Helper()
	handlers := make(map[string]*testsvc.Arith, len(services))
	for name := range services {
		handlers[name] = testsvc.NewArith()
	}
	_, _, addr := serve(t, newRegistrar, handlers, services)
	return addr
}

func serve(t testing.TB, newRegistrar func(t testing.TB, address string) *registry.Registrar,
	handlers map[string]*testsvc.Arith, metadata map[string]string) (*server.Server, *registry.Registrar, string) {
	t.Helper()
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	reg := newRegistrar(t, addr)
	s := server.NewServer(server.WithRegistrar(reg))
	for _, name := range slices.Sorted(maps.Keys(handlers)) {
		if err := s.RegisterName(name, handlers[name], metadata[name]); err != nil {
			t.Fatal(err)
		}
	}
	testsvc.ServeOn(t, s, ln)
	return s, reg, addr
}

// MustRegistrar returns a function that fails t if err is not nil and otherwise returns
// reg; wrap a backend's constructor with it: MustRegistrar(t)(etcd.NewRegistrar(cli, addr)).
func MustRegistrar(t testing.TB) func(reg *registry.Registrar, err error) *registry.Registrar {
	return func(reg *registry.Registrar, err error) *registry.Registrar {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
}

// MustDiscovery returns a function that fails t if err is not nil and otherwise returns d,
// closed at cleanup (where an error from Close fails t); wrap a backend's constructor with
// it: MustDiscovery(t)(etcd.NewDiscovery(cli, "Arith")).
func MustDiscovery(t testing.TB) func(d *registry.Discovery, err error) *registry.Discovery {
	return func(d *registry.Discovery, err error) *registry.Discovery {
		t.Helper()
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
}

// XClient returns an XClient of service over d, closed at cleanup.
func XClient(t testing.TB, service string, d discovery.Discovery, mode client.FailMode) *client.XClient {
	t.Helper()
	x := client.NewXClient(service, mode, client.RoundRobin, d, client.DefaultOption)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// Mul calls Arith.Mul through x and checks the product.
func Mul(t testing.TB, x *client.XClient, a, b int) {
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

// Keys returns the sorted keys (network@host:port) of list.
func Keys(list []discovery.Server) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Key
	}
	slices.Sort(out)
	return out
}

// WaitList waits until d lists exactly want (any order) without an error, and returns that
// list.
func WaitList(t testing.TB, d *registry.Discovery, want ...string) []discovery.Server {
	t.Helper()
	return WaitListWithin(t, testsvc.Bound, d, want...)
}

// WaitListWithin is WaitList with a bound other than testsvc.Bound.
func WaitListWithin(t testing.TB, bound time.Duration, d *registry.Discovery, want ...string) []discovery.Server {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(bound)
	for {
		list := d.Servers()
		if slices.Equal(Keys(list), want) && d.Err() == nil {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery lists %v, want %v (Err: %v)", Keys(list), want, d.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// Await receives lists from a watch channel until one satisfies ok, and returns it; it
// fails the test after testsvc.Bound.
func Await(t testing.TB, ch <-chan []discovery.Server, what string, ok func([]discovery.Server) bool) []discovery.Server {
	t.Helper()
	deadline := time.NewTimer(testsvc.Bound)
	defer deadline.Stop()
	var last []discovery.Server
	for {
		select {
		case list := <-ch:
			if ok(list) {
				return list
			}
			last = list
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; last list %v", what, Keys(last))
			return nil
		}
	}
}

// KeysAre returns a predicate for Await: the list holds exactly these server keys.
func KeysAre(keys ...string) func([]discovery.Server) bool {
	keys = slices.Sorted(slices.Values(keys))
	return func(list []discovery.Server) bool { return slices.Equal(Keys(list), keys) }
}

// WaitEndpoints waits until x uses exactly the servers want (any order): an XClient
// follows its Discovery's list asynchronously.
func WaitEndpoints(t testing.TB, x *client.XClient, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	testsvc.Eventually(t, fmt.Sprintf("the XClient to use %v", want), func() bool {
		var got []string
		for _, e := range x.Endpoints() {
			got = append(got, e.Key)
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
}

// Backend is how Run starts a backend's registry for one test.
type Backend struct {
	// Start starts a registry of the backend for t, stopped at cleanup, and returns how the
	// suite uses it. It may call t.Parallel.
	Start func(t *testing.T) *Registry
}

// Registry is a backend's registry, started for one test, as the suite uses it. The
// functions set their settings (short TTLs and refresh intervals) themselves.
type Registry struct {
	// NewRegistrar returns a Registrar advertising address, on a client of the registry of
	// its own. The test closes it, or the server it is given to does.
	NewRegistrar func(t testing.TB, address string) *registry.Registrar
	// NewDiscovery returns a Discovery of service (with opts added to the backend's
	// settings), closed at cleanup.
	NewDiscovery func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery

	// Entry, if set, reads the value of service's entry at address straight from the
	// registry, decoded to the metadata string, and whether the entry is there.
	Entry func(t testing.TB, service, address string) (value string, ok bool)
	// Holder, if set, is called while service's entry at address is advertised and returns
	// a check, run once the server has shut down, that what kept the entry alive (a lease, a
	// session) was released too.
	Holder func(t testing.TB, service, address string) (released func(t testing.TB))
	// CheckWatch, if set, checks that the Discoveries watch the way they should (Redis:
	// keyspace notifications or polling); it runs once a Discovery has listed.
	CheckWatch func(t testing.TB)

	// Stop and Start, if set, take the registry away from every client and bring it back
	// (the same data or none, as the backend does); without them Outage is skipped.
	Stop, Start func()
	// Restored, if set, checks after an outage that service's entry at address is alive
	// again in the registry (under a live lease or session, say); it waits as it must.
	Restored func(t testing.TB, service, address string)

	// NewCrashable, if set, returns a Registrar advertising address and a function that
	// crashes it: from then on nothing it does reaches the registry (no delete, no
	// renewal), as with a process that died. Without it Crash is skipped.
	NewCrashable func(t testing.TB, address string) (reg *registry.Registrar, crash func())
	// MinExpiry is how long a crashed server's entry lasts at least (0: not checked), and
	// MaxExpiry how long clients may take to drop it (0: testsvc.Bound).
	MinExpiry, MaxExpiry time.Duration
}

// Serve is Serve with r's Registrars.
func (r *Registry) Serve(t testing.TB, service, metadata string) *Server {
	t.Helper()
	return Serve(t, r.NewRegistrar, service, metadata)
}

// Run runs the behaviours every backend shares, one subtest each, each against a registry
// of its own that b starts. Every subtest uses a service name of its own, so that
// registries shared between tests (mDNS: the network) keep them apart.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *Registry, service string)
	}{
		{"RegisterDiscoverCall", registerDiscoverCall},
		{"MetadataChanges", metadataChanges},
		{"ShutdownWithdraws", shutdownWithdraws},
		{"DiscoveryBeforeAnyServer", discoveryBeforeAnyServer},
		{"Burst", burst},
		{"Outage", outage},
		{"Crash", crash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, b.Start(t), "Suite"+tt.name)
		})
	}
}

// registerDiscoverCall: a brisk server advertised through the backend is found by a
// Discovery, with its metadata, and an XClient over it calls the server.
func registerDiscoverCall(t *testing.T, r *Registry, service string) {
	a := r.Serve(t, service, "weight=4&group=g")
	d := r.NewDiscovery(t, service)
	list := WaitList(t, d, a.Addr)
	if list[0].Weight != 4 || !list[0].InGroup("g") {
		t.Errorf("discovered %+v, want weight 4 in group g", list[0])
	}
	if r.CheckWatch != nil {
		r.CheckWatch(t)
	}
	if err := d.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	x := XClient(t, service, d, client.Failfast)
	WaitEndpoints(t, x, a.Addr)
	Mul(t, x, 6, 7)
}

// metadataChanges: a new weight reaches the client without the server ever leaving its
// list, an inactive server is filtered out (and written state=inactive), and it comes back
// with its metadata when active again.
func metadataChanges(t *testing.T, r *Registry, service string) {
	a := r.Serve(t, service, "")
	d := r.NewDiscovery(t, service)
	if list := WaitList(t, d, a.Addr); list[0].Weight != 1 {
		t.Fatalf("weight %d, want the default 1", list[0].Weight)
	}
	ch, stop := d.Watch()
	defer stop()
	ctx := context.Background()
	if err := a.Reg.Register(ctx, service, "weight=5"); err != nil {
		t.Fatal(err)
	}
	Await(t, ch, "weight 5", func(l []discovery.Server) bool {
		if len(l) != 1 {
			t.Fatalf("list %v while the metadata changes", Keys(l))
		}
		return l[0].Weight == 5
	})
	if err := a.Reg.SetInactive(ctx, true); err != nil {
		t.Fatal(err)
	}
	Await(t, ch, "the inactive server to be filtered out", KeysAre())
	if r.Entry != nil {
		if v, ok := r.Entry(t, service, a.Addr); !ok || v != "weight=5&state=inactive" {
			t.Errorf("entry while inactive: %q (present %v), want weight=5&state=inactive", v, ok)
		}
	}
	if err := a.Reg.SetInactive(ctx, false); err != nil {
		t.Fatal(err)
	}
	Await(t, ch, "the server back with weight 5", func(l []discovery.Server) bool {
		return len(l) == 1 && l[0].Key == a.Addr && l[0].Weight == 5 && !l[0].Inactive && l[0].RawMetadata == "weight=5"
	})
	if err := d.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

// shutdownWithdraws: a clean Shutdown deletes the entry (and releases its lease or
// session) before it returns, and clients drop the server.
func shutdownWithdraws(t *testing.T, r *Registry, service string) {
	a := r.Serve(t, service, "")
	d := r.NewDiscovery(t, service)
	WaitList(t, d, a.Addr)
	var released func(testing.TB)
	if r.Holder != nil {
		released = r.Holder(t, service, a.Addr)
	}
	if err := a.S.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Entry != nil {
		if v, ok := r.Entry(t, service, a.Addr); ok {
			t.Fatalf("the entry is still there after Shutdown: %q", v)
		}
	}
	if released != nil {
		released(t)
	}
	WaitList(t, d)
}

// discoveryBeforeAnyServer: nothing is registered yet; the list is empty without an
// error, and the server shows up, and is called, once it registers.
func discoveryBeforeAnyServer(t *testing.T, r *Registry, service string) {
	d := r.NewDiscovery(t, service)
	testsvc.Eventually(t, "the first list", func() bool { return d.Err() == nil })
	if got := d.Servers(); len(got) != 0 {
		t.Fatalf("Servers = %v, want none", got)
	}
	ch, stop := d.Watch()
	defer stop()
	a := r.Serve(t, service, "")
	Await(t, ch, "the server to appear", KeysAre(a.Addr))
	x := XClient(t, service, d, client.Failfast)
	WaitEndpoints(t, x, a.Addr)
	Mul(t, x, 3, 3)
}

// burst: many registrations, metadata changes and withdrawals in a row (odd servers leave
// at once, every fourth changes its weight); the first list a watcher receives with the
// final servers has their final weights.
func burst(t *testing.T, r *Registry, service string) {
	d := r.NewDiscovery(t, service)
	ch, stop := d.Watch()
	defer stop()
	ctx := context.Background()
	var want []string
	weights := map[string]int{}
	for i := range 20 {
		addr := fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i)
		reg := r.NewRegistrar(t, addr)
		t.Cleanup(func() { _ = reg.Close(ctx) })
		if err := reg.Register(ctx, service, ""); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if err := reg.Close(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if i%4 == 0 {
			if err := reg.Register(ctx, service, fmt.Sprintf("weight=%d", i+2)); err != nil {
				t.Fatal(err)
			}
			weights[addr] = i + 2
		}
		want = append(want, addr)
	}
	list := Await(t, ch, fmt.Sprintf("a list of %v", want), KeysAre(want...))
	for _, s := range list {
		w, ok := weights[s.Key]
		if !ok {
			w = 1
		}
		if s.Weight != w {
			t.Errorf("%s: weight %d, want %d", s.Key, s.Weight, w)
		}
	}
}

// outage takes the registry away during a watch: the client keeps its list, still calls
// the server it knows and reports the outage through Err; once the registry is back, a
// new server registering is seen, the first server's entry is alive again and Err clears.
func outage(t *testing.T, r *Registry, service string) {
	if r.Stop == nil || r.Start == nil {
		t.Skip("this backend's registry cannot be stopped and started by the test")
	}
	a := r.Serve(t, service, "")
	d := r.NewDiscovery(t, service)
	x := XClient(t, service, d, client.Failfast)
	WaitList(t, d, a.Addr)
	WaitEndpoints(t, x, a.Addr)
	Mul(t, x, 2, 3)

	r.Stop()
	testsvc.Eventually(t, "Err to report the outage", func() bool { return d.Err() != nil })
	t.Logf("Err during the outage: %v", d.Err())
	if got := Keys(d.Servers()); !slices.Equal(got, []string{a.Addr}) {
		t.Fatalf("list during the outage = %v, want [%s]", got, a.Addr)
	}
	Mul(t, x, 4, 5)

	r.Start()
	b := r.Serve(t, service, "weight=2")
	for _, s := range WaitList(t, d, a.Addr, b.Addr) {
		if s.Key == b.Addr && s.Weight != 2 {
			t.Errorf("the new server's weight is %d, want 2", s.Weight)
		}
	}
	if r.Restored != nil {
		r.Restored(t, service, a.Addr)
	}
	if r.CheckWatch != nil {
		r.CheckWatch(t)
	}
	WaitEndpoints(t, x, a.Addr, b.Addr)
	Mul(t, x, 6, 7)
}

// crash: server A dies without deregistering (its registrar's client is cut off, and A
// goes on serving, so only the list keeps calls away from it). The registry expires its
// entry (not before MinExpiry), the client drops A and every call goes to B.
func crash(t *testing.T, r *Registry, service string) {
	if r.NewCrashable == nil {
		t.Skip("this backend's registrars cannot be crashed by the test")
	}
	d := r.NewDiscovery(t, service)
	b := r.Serve(t, service, "")

	ln := testsvc.Listen(t)
	aAddr := "tcp@" + ln.Addr().String()
	aReg, crashA := r.NewCrashable(t, aAddr)
	// The registrar is closed only at the end (it fails then: it is cut off).
	t.Cleanup(func() { _ = aReg.Close(context.Background()) })
	aArith := testsvc.NewArith()
	aSrv := server.NewServer() // advertised by hand, so closing it withdraws nothing
	if err := aSrv.RegisterName(service, aArith, ""); err != nil {
		t.Fatal(err)
	}
	testsvc.ServeOn(t, aSrv, ln)
	if err := aReg.Register(context.Background(), service, ""); err != nil {
		t.Fatal(err)
	}
	x := XClient(t, service, d, client.Failfast)
	WaitList(t, d, aAddr, b.Addr)
	WaitEndpoints(t, x, aAddr, b.Addr)
	for i := range 4 {
		Mul(t, x, i, 2)
	}

	crashed := time.Now()
	crashA()
	bound := r.MaxExpiry
	if bound == 0 {
		bound = testsvc.Bound
	}
	WaitListWithin(t, bound, d, b.Addr)
	waited := time.Since(crashed)
	t.Logf("A dropped %v after the crash", waited)
	if waited < r.MinExpiry {
		t.Errorf("A's entry vanished after %v, before it could have expired (%v)", waited, r.MinExpiry)
	}
	if r.Entry != nil {
		if v, ok := r.Entry(t, service, aAddr); ok {
			t.Errorf("A's entry is still there: %q", v)
		}
	}
	WaitEndpoints(t, x, b.Addr)
	for i := range 10 {
		Mul(t, x, i, 3)
		notify(t, x, i)
	}
	if n := len(aArith.Notified); n != 0 {
		t.Errorf("the crashed server got %d calls", n)
	}
	if n := len(b.Arith.Notified); n != 10 {
		t.Errorf("the live server got %d of 10 calls", n)
	}
}

// notify calls Arith.Notify through x.
func notify(t testing.TB, x *client.XClient, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	var reply testsvc.Reply
	if err := x.Call(ctx, "Notify", &testsvc.Args{A: i}, &reply); err != nil {
		t.Fatalf("Notify(%d): %v", i, err)
	}
}
