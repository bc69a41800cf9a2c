package consul_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/consul"
)

// sessionExpiry bounds how long Consul takes to invalidate a session that is no longer
// renewed: twice the minimum TTL of 10s the tests' sessions get, plus slack.
const sessionExpiry = 2*10*time.Second + 10*time.Second

// fast are the settings every test uses, so that refreshes, re-watches and retries happen
// within a fraction of testsvc.Bound. The TTL is raised to Consul's minimum, 10s.
func fast(more ...registry.Option) []registry.Option {
	return append([]registry.Option{
		registry.WithTTL(2 * time.Second),
		registry.WithRefreshInterval(200 * time.Millisecond),
		registry.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		registry.WithTimeout(2 * time.Second),
	}, more...)
}

// target is the Consul a test runs against: the real agent at CONSUL_HTTP_ADDR, which the
// clients under test reach through a TCP proxy the test can cut (the agent itself cannot
// be stopped from here), or else a fake agent of the test's own (fake_consul_test.go),
// stopped and started for real.
type target struct {
	fake  *fakeConsul // nil with a real agent
	proxy *proxy      // nil with the fake
	raw   *api.Client // straight to the agent, for the test's own reads
	base  string      // the test's base path
}

// newTarget returns the test's Consul and runs the test in parallel with the others.
func newTarget(t *testing.T) *target {
	t.Helper()
	t.Parallel()
	tg := &target{}
	if addr := os.Getenv("CONSUL_HTTP_ADDR"); addr != "" {
		addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
		tg.proxy = startProxy(t, addr)
		tg.raw = newClient(t, addr, nil)
		// A base path of its own, so tests sharing the agent do not see each other.
		tg.base = fmt.Sprintf("/brisk_test/%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
		t.Cleanup(func() { _, _ = tg.raw.KV().DeleteTree(strings.TrimPrefix(tg.base, "/"), nil) })
	} else {
		t.Log("CONSUL_HTTP_ADDR is not set: running against the stand-in agent of fake_consul_test.go")
		tg.fake = newFakeConsul(t)
		tg.raw = newClient(t, tg.fake.Addr(), nil)
		tg.base = "/rpcx_test"
	}
	return tg
}

// addr is where the clients under test reach Consul.
func (tg *target) addr() string {
	if tg.fake != nil {
		return tg.fake.Addr()
	}
	return tg.proxy.Addr()
}

// client returns a client of the clients under test.
func (tg *target) client(t testing.TB) *api.Client { return newClient(t, tg.addr(), nil) }

// Stop takes Consul away from the clients under test; Start brings it back.
func (tg *target) Stop() {
	if tg.fake != nil {
		tg.fake.Stop()
	} else {
		tg.proxy.Stop()
	}
}

func (tg *target) Start() {
	if tg.fake != nil {
		tg.fake.Start()
	} else {
		tg.proxy.Start()
	}
}

// opts are fast settings with the test's base path.
func (tg *target) opts(more ...registry.Option) []registry.Option {
	return fast(append([]registry.Option{registry.WithBasePath(tg.base)}, more...)...)
}

// key is the Consul key of service's entry at addr under the test's base path.
func (tg *target) key(service, addr string) string {
	return strings.TrimPrefix(registry.Key(tg.base, service, addr), "/")
}

// get reads a key straight from Consul (nil if missing).
func (tg *target) get(t testing.TB, key string) *api.KVPair {
	t.Helper()
	kv, _, err := tg.raw.KV().Get(key, nil)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return kv
}

// newClient returns a Consul client of addr over its own transport (wrapped by wrap if not
// nil), whose idle connections are closed at cleanup.
func newClient(t testing.TB, addr string, wrap func(http.RoundTripper) http.RoundTripper) *api.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(tr)
	}
	cli, err := api.NewClient(&api.Config{Address: addr, Scheme: "http", HttpClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatalf("api.NewClient: %v", err)
	}
	return cli
}

// crashable is a transport that stops working for good when crashed, as the network of a
// process that died: its requests fail, nothing more reaches Consul.
type crashable struct {
	rt      *http.Transport
	crashed atomic.Bool
}

func (c *crashable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.crashed.Load() {
		return nil, errors.New("crashed by the test")
	}
	return c.rt.RoundTrip(r)
}

func (c *crashable) crash() {
	c.crashed.Store(true)
	c.rt.CloseIdleConnections()
}

// registrarOn returns a function making Registrars on cli, with tg's settings.
func (tg *target) registrarOn(cli *api.Client) func(t testing.TB, address string) *registry.Registrar {
	return func(t testing.TB, address string) *registry.Registrar {
		t.Helper()
		return registrytest.MustRegistrar(t)(consul.NewRegistrar(cli, address, tg.opts()...))
	}
}

// serveArith starts a brisk server on loopback that registers Arith with metadata through
// a Registrar on cli (server.WithRegistrar), closed at cleanup.
func serveArith(t testing.TB, tg *target, cli *api.Client, metadata string) *registrytest.Server {
	t.Helper()
	return registrytest.Serve(t, tg.registrarOn(cli), "Arith", metadata)
}

// discover starts a Discovery of service on cli, closed at cleanup.
func discover(t testing.TB, tg *target, cli *api.Client, service string, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	return registrytest.MustDiscovery(t)(consul.NewDiscovery(cli, service, tg.opts(opts...)...))
}

// backend is Consul for registrytest.Run: a target per test (the real agent behind a proxy,
// or the stand-in agent), a client per Registrar and Discovery, raw reads of keys and
// sessions. Tests run in parallel.
var backend = registrytest.Backend{Start: func(t *testing.T) *registrytest.Registry {
	tg := newTarget(t)
	sessionAlive := func(t testing.TB, session string) bool {
		t.Helper()
		se, _, err := tg.raw.Session().Info(session, nil)
		if err != nil {
			t.Fatalf("session %s: %v", session, err)
		}
		return se != nil
	}
	return &registrytest.Registry{
		NewRegistrar: func(t testing.TB, address string) *registry.Registrar {
			return tg.registrarOn(tg.client(t))(t, address)
		},
		NewDiscovery: func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery {
			return discover(t, tg, tg.client(t), service, opts...)
		},
		Entry: func(t testing.TB, service, address string) (string, bool) {
			kv := tg.get(t, tg.key(service, address))
			if kv == nil {
				return "", false
			}
			return string(kv.Value), true
		},
		Holder: func(t testing.TB, service, address string) func(testing.TB) {
			kv := tg.get(t, tg.key(service, address))
			if kv == nil || kv.Session == "" || !sessionAlive(t, kv.Session) {
				t.Fatalf("the entry %+v is not held by a live session", kv)
			}
			return func(t testing.TB) {
				if sessionAlive(t, kv.Session) {
					t.Errorf("session %s still there after Shutdown; want it destroyed", kv.Session)
				}
			}
		},
		Stop:  tg.Stop,
		Start: tg.Start,
		Restored: func(t testing.TB, service, address string) {
			kv := tg.get(t, tg.key(service, address))
			if kv == nil || kv.Session == "" {
				t.Fatalf("the entry after the outage: %+v", kv)
			}
			if !sessionAlive(t, kv.Session) {
				t.Errorf("the entry's session %s is gone", kv.Session)
			}
		},
		// A crashed server's Consul client loses its network (no Delete, no session
		// Destroy, no renewal): Consul invalidates its session once the TTL has passed
		// unrenewed, between 10 and 20s with the minimum TTL, and deletes its entry.
		NewCrashable: func(t testing.TB, address string) (*registry.Registrar, func()) {
			cr := &crashable{}
			cli := newClient(t, tg.addr(), func(rt http.RoundTripper) http.RoundTripper {
				cr.rt = rt.(*http.Transport)
				return cr
			})
			return tg.registrarOn(cli)(t, address), cr.crash
		},
		MaxExpiry: sessionExpiry,
	}
}}

// proxy is a TCP proxy in front of a real agent, which a test stops (closing every
// connection, as an agent that dies) and starts again on the same port.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

func (p *proxy) Addr() string { return p.addr }

func (p *proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // stopped meanwhile
				p.mu.Unlock()
				_, _ = c.Close(), up.Close()
				return
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			p.wg.Go(func() { pipe(up, c) })
			p.wg.Go(func() { pipe(c, up) })
		}
	})
}

func (p *proxy) Stop() {
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		return
	}
	_ = p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
