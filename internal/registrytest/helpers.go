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
