package redis_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/redis"
	"github.com/brisk-rpc/brisk/server"
)

// Short timings keep the suite fast: entries expire 2s after their last refresh.
const (
	ttl     = 2 * time.Second
	refresh = 500 * time.Millisecond
)

func opts(extra ...registry.Option) []registry.Option {
	return append([]registry.Option{
		registry.WithTTL(ttl),
		registry.WithRefreshInterval(refresh),
		registry.WithTimeout(time.Second),
		registry.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
	}, extra...)
}

// mode is how Discoveries watch: keyspace notifications, or polling because their Redis
// user may not run CONFIG (as on managed Redis).
type mode string

const (
	notify mode = "notifications"
	poll   mode = "polling"
)

var modes = []mode{notify, poll}

// pollUser is a Redis user that may do anything but CONFIG.
const pollUser, pollPass = "poller", "secret"

// env is a Redis server for one test and an admin client reading it raw.
type env struct {
	t     *testing.T
	srv   *realsvc.Process
	admin *goredis.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: realsvc.StartRedis(t)}
	e.admin = e.client()
	e.addPollUser()
	return e
}

// client returns a new client, closed at cleanup, with the admin's rights.
func (e *env) client() *goredis.Client {
	cli := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr(), DialTimeout: time.Second})
	e.t.Cleanup(func() { cli.Close() })
	return cli
}

// clientFor returns a client for a Discovery in mode m.
func (e *env) clientFor(m mode) *goredis.Client {
	if m == notify {
		return e.client()
	}
	cli := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr(), Username: pollUser, Password: pollPass, DialTimeout: time.Second})
	e.t.Cleanup(func() { cli.Close() })
	return cli
}

// addPollUser creates pollUser; a restart loses it, with every key.
func (e *env) addPollUser() {
	e.t.Helper()
	err := e.admin.Do(context.Background(), "ACL", "SETUSER", pollUser, "on", ">"+pollPass, "~*", "&*", "+@all", "-config").Err()
	if err != nil {
		e.t.Fatal(err)
	}
}

// restart stops and starts Redis on the same port: every key is lost.
func (e *env) restart() {
	e.t.Helper()
	e.srv.Restart()
	e.addPollUser()
}

// discover returns a Discovery of service in mode m, closed at cleanup, and a watch on it.
func (e *env) discover(m mode, service string, extra ...registry.Option) (*registry.Discovery, <-chan []discovery.Server) {
	e.t.Helper()
	d, err := redis.NewDiscovery(e.clientFor(m), service, opts(extra...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ch, stop := d.Watch()
	e.t.Cleanup(func() {
		stop()
		if err := d.Close(); err != nil {
			e.t.Errorf("Discovery.Close: %v", err)
		}
	})
	return d, ch
}

// checkMode checks that a Discovery in mode m watches as it should: one pattern
// subscription with notifications, none when polling.
func (e *env) checkMode(m mode) {
	e.t.Helper()
	want := int64(0)
	if m == notify {
		want = 1
	}
	var n int64
	testsvc.Eventually(e.t, fmt.Sprintf("%d pattern subscription(s)", want), func() bool {
		n, _ = e.admin.PubSubNumPat(context.Background()).Result()
		return n == want
	})
}

// raw returns every key in Redis with its value.
func (e *env) raw() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.admin.Keys(ctx, "*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := e.admin.Get(ctx, k).Result()
		if err != nil {
			e.t.Fatalf("GET %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

func (e *env) exists(key string) bool {
	n, err := e.admin.Exists(context.Background(), key).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n == 1
}

// arith is a brisk server serving Arith, advertised in Redis.
type arith struct {
	s     *server.Server
	arith *testsvc.Arith
	addr  string // network@host:port
	reg   *registry.Registrar
}

// startArith serves Arith on loopback and registers it through a registrar using cli,
// with metadata. The server is closed at cleanup.
func startArith(t *testing.T, cli goredis.UniversalClient, metadata string) *arith {
	t.Helper()
	ln := testsvc.Listen(t)
	a := &arith{arith: testsvc.NewArith(), addr: "tcp@" + ln.Addr().String()}
	var err error
	a.reg, err = redis.NewRegistrar(cli, a.addr, opts()...)
	if err != nil {
		t.Fatal(err)
	}
	a.s = server.NewServer(server.WithRegistrar(a.reg))
	if err := a.s.RegisterName("Arith", a.arith, metadata); err != nil {
		t.Fatal(err)
	}
	testsvc.ServeOn(t, a.s, ln)
	return a
}

// waitList reads lists from ch until one satisfies ok.
func waitList(t *testing.T, ch <-chan []discovery.Server, what string, ok func([]discovery.Server) bool) []discovery.Server {
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
			t.Fatalf("timed out waiting for %s; last list %v", what, last)
		}
	}
}

// keysAre returns a predicate: the list holds exactly these server keys.
func keysAre(keys ...string) func([]discovery.Server) bool {
	slices.Sort(keys)
	return func(list []discovery.Server) bool {
		got := make([]string, len(list))
		for i, s := range list {
			got[i] = s.Key
		}
		slices.Sort(got)
		return slices.Equal(got, keys)
	}
}

func newXClient(t *testing.T, d discovery.Discovery) *client.XClient {
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	t.Cleanup(func() { x.Close() })
	return x
}

func mul(t *testing.T, x *client.XClient, a, b int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	var reply testsvc.Reply
	if err := x.Call(ctx, "Mul", &testsvc.Args{A: a, B: b}, &reply); err != nil {
		t.Fatalf("Mul: %v", err)
	}
	if reply.C != a*b {
		t.Fatalf("Mul(%d, %d) = %d", a, b, reply.C)
	}
}

// TestLayout checks the keys and values a brisk server writes against REGISTRY.md.
func TestLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg, err := redis.NewRegistrar(e.client(), "127.0.0.1:8972", opts()...) // bare host:port is tcp
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	defer s.Close()
	if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=10&group=a&group=b"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Echo", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // key -> metadata the JSON wrapper holds
		"/rpcx_test":                          "rpcx_path",
		"/rpcx_test/Arith":                    "Arith",
		"/rpcx_test/Arith/tcp@127.0.0.1:8972": "weight=10&group=a&group=b",
		"/rpcx_test/Echo":                     "Echo",
		"/rpcx_test/Echo/tcp@127.0.0.1:8972":  "",
	}
	got := e.raw()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("keys %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for key, md := range want {
		raw := got[key]
		prefix := fmt.Sprintf(`{"Key":%q,"Value":%q,"LastIndex":`, key, base64.StdEncoding.EncodeToString([]byte(md)))
		if !strings.HasPrefix(raw, prefix) || !strings.HasSuffix(raw, "}") {
			t.Errorf("%s = %s, want %s<n>}", key, raw, prefix)
		}
		var w struct {
			Key       string
			Value     []byte
			LastIndex uint64
		}
		if err := json.Unmarshal([]byte(raw), &w); err != nil || w.Key != key || string(w.Value) != md || w.LastIndex == 0 {
			t.Errorf("%s = %s: decodes to %+v, %v", key, raw, w, err)
		}
		pttl, err := e.admin.PTTL(context.Background(), key).Result()
		if err != nil || pttl <= 0 || pttl > ttl {
			t.Errorf("%s expires in %v (%v), want within %v", key, pttl, err, ttl)
		}
	}
}

// TestRegisterDiscoverCall: a brisk server registered through the plugin is found by a
// Discovery and called through an XClient.
func TestRegisterDiscoverCall(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			a := startArith(t, e.client(), "weight=10")
			d, ch := e.discover(m, "Arith")
			list := waitList(t, ch, "the server", keysAre(a.addr))
			if list[0].Weight != 10 {
				t.Errorf("weight %d, want 10", list[0].Weight)
			}
			e.checkMode(m)
			if err := d.Err(); err != nil {
				t.Errorf("Err = %v", err)
			}
			mul(t, newXClient(t, d), 6, 7)
		})
	}
}

// TestMetadataChanges: new metadata and the inactive state reach the client.
func TestMetadataChanges(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			a := startArith(t, e.client(), "weight=1")
			_, ch := e.discover(m, "Arith")
			waitList(t, ch, "the server", keysAre(a.addr))
			ctx := context.Background()
			if err := a.reg.Register(ctx, "Arith", "weight=5"); err != nil {
				t.Fatal(err)
			}
			waitList(t, ch, "weight 5", func(l []discovery.Server) bool { return len(l) == 1 && l[0].Weight == 5 })
			if err := a.reg.SetInactive(ctx, true); err != nil {
				t.Fatal(err)
			}
			waitList(t, ch, "the inactive server to be filtered out", keysAre())
			if err := a.reg.SetInactive(ctx, false); err != nil {
				t.Fatal(err)
			}
			waitList(t, ch, "the server back", func(l []discovery.Server) bool {
				return len(l) == 1 && l[0].Key == a.addr && l[0].Weight == 5 && !l[0].Inactive
			})
		})
	}
}

// TestShutdownWithdraws: a clean Shutdown deletes the entry at once.
func TestShutdownWithdraws(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			a := startArith(t, e.client(), "")
			_, ch := e.discover(m, "Arith")
			waitList(t, ch, "the server", keysAre(a.addr))
			if err := a.s.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if key := registry.Key("", "Arith", a.addr); e.exists(key) {
				t.Fatalf("%s still exists after Shutdown", key)
			}
			waitList(t, ch, "an empty list", keysAre())
		})
	}
}

// TestClientBeforeServer: a Discovery started before any server lists nothing, without
// error, then finds the server.
func TestClientBeforeServer(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			d, ch := e.discover(m, "Arith")
			testsvc.Eventually(t, "the first list", func() bool { return d.Err() == nil })
			if got := d.Servers(); len(got) != 0 {
				t.Fatalf("Servers = %v before any server registered", got)
			}
			a := startArith(t, e.client(), "")
			waitList(t, ch, "the server", keysAre(a.addr))
		})
	}
}

// TestRegistryRestart: while Redis is down the client keeps its list and calls the known
// server, and says why through Err; once Redis is back (empty: no persistence) the
// registrars write their entries again and the watch sees a change again.
func TestRegistryRestart(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			a := startArith(t, e.client(), "")
			d, ch := e.discover(m, "Arith")
			waitList(t, ch, "the server", keysAre(a.addr))
			x := newXClient(t, d)
			mul(t, x, 2, 3)

			e.srv.Stop()
			testsvc.Eventually(t, "Err to report the outage", func() bool { return d.Err() != nil })
			if got := d.Servers(); len(got) != 1 || got[0].Key != a.addr {
				t.Fatalf("list during the outage %v", got)
			}
			mul(t, x, 3, 4)

			e.restart()
			key := registry.Key("", "Arith", a.addr)
			testsvc.Eventually(t, "the refresh to write the entry again", func() bool { return e.exists(key) })
			b := startArith(t, e.client(), "weight=2")
			waitList(t, ch, "both servers", keysAre(a.addr, b.addr))
			testsvc.Eventually(t, "Err to clear", func() bool { return d.Err() == nil })
			e.checkMode(m)
			mul(t, x, 4, 5)
		})
	}
}

// TestDeadServerExpires: a server that stops refreshing without deregistering (its Redis
// client is gone) disappears after the TTL and the client stops calling it.
func TestDeadServerExpires(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			deadCli := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr()})
			dead := startDying(t, deadCli)
			live := startArith(t, e.client(), "")
			d, ch := e.discover(m, "Arith")
			waitList(t, ch, "both servers", keysAre(dead.addr, live.addr))
			x := newXClient(t, d)

			deadCli.Close() // refreshes fail from now on; nothing deletes the entry
			start := time.Now()
			waitList(t, ch, "the dead server to expire", keysAre(live.addr))
			if waited := time.Since(start); waited < refresh {
				t.Errorf("the entry vanished after %v, before it could have expired", waited)
			}
			if key := registry.Key("", "Arith", dead.addr); e.exists(key) {
				t.Errorf("%s still exists", key)
			}
			testsvc.Eventually(t, "the XClient to drop the dead server", func() bool {
				eps := x.Endpoints()
				return len(eps) == 1 && eps[0].Key == live.addr
			})
			for i := range 10 {
				var reply testsvc.Reply
				if err := x.Call(context.Background(), "Notify", &testsvc.Args{A: i}, &reply); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(dead.arith.Notified); n != 0 {
				t.Errorf("the expired server got %d calls", n)
			}
			if n := len(live.arith.Notified); n != 10 {
				t.Errorf("the live server got %d of 10 calls", n)
			}
		})
	}
}

// startDying is startArith for a server whose Redis client the test closes: its Close
// cannot withdraw, which is the point, so its error is not checked.
func startDying(t *testing.T, cli goredis.UniversalClient) *arith {
	t.Helper()
	ln := testsvc.Listen(t)
	a := &arith{arith: testsvc.NewArith(), addr: "tcp@" + ln.Addr().String()}
	var err error
	a.reg, err = redis.NewRegistrar(cli, a.addr, opts()...)
	if err != nil {
		t.Fatal(err)
	}
	a.s = server.NewServer(server.WithRegistrar(a.reg))
	if err := a.s.RegisterName("Arith", a.arith, ""); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.s.ServeListener(ln) }()
	t.Cleanup(func() {
		_ = a.s.Close() // fails to withdraw: the client is closed
		if err := testsvc.Recv(t, done, "ServeListener to return"); !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("ServeListener returned %v", err)
		}
	})
	return a
}

// TestBurst: many registrations, changes and withdrawals in a row; the watcher's final
// list is the final state.
func TestBurst(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t)
			_, ch := e.discover(m, "Arith")
			ctx := context.Background()
			cli := e.client()
			var want []string
			weights := make(map[string]int)
			for i := range 20 {
				addr := fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i)
				r, err := redis.NewRegistrar(cli, addr, opts()...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close(ctx) })
				if err := r.Register(ctx, "Arith", "weight=1"); err != nil {
					t.Fatal(err)
				}
				if i%3 == 0 {
					if err := r.Close(ctx); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := r.Register(ctx, "Arith", fmt.Sprint("weight=", i)); err != nil {
					t.Fatal(err)
				}
				want = append(want, addr)
				weights[addr] = i
			}
			same := keysAre(want...)
			waitList(t, ch, "the final state", func(l []discovery.Server) bool {
				if !same(l) {
					return false
				}
				for _, s := range l {
					if s.Weight != weights[s.Key] {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestRpcxValues: entries written by another process, in rpcx's wrapper or as bare
// metadata, are listed; markers and other services are not.
func TestRpcxValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	set := func(key, value string) {
		if err := e.admin.Set(ctx, key, value, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set("/app", `{"Key":"/app","Value":"cnBjeF9wYXRo","LastIndex":1}`)
	set("/app/Arith", `{"Key":"/app/Arith","Value":"QXJpdGg=","LastIndex":2}`)
	set("/app/Arith/tcp@10.0.0.1:8972", `{"Key":"/app/Arith/tcp@10.0.0.1:8972","Value":"d2VpZ2h0PTM=","LastIndex":3}`)
	set("/app/Arith/tcp@10.0.0.2:8972", "weight=4")
	set("/app/Other/tcp@10.0.0.3:8972", "")
	_, ch := e.discover(notify, "Arith", registry.WithBasePath("app/"))
	list := waitList(t, ch, "both entries", keysAre("tcp@10.0.0.1:8972", "tcp@10.0.0.2:8972"))
	for _, s := range list {
		if want := map[string]int{"tcp@10.0.0.1:8972": 3, "tcp@10.0.0.2:8972": 4}[s.Key]; s.Weight != want {
			t.Errorf("%s weight %d, want %d", s.Key, s.Weight, want)
		}
	}
}

// TestConfigSetRefused: a user who may read the configuration but not change it watches
// with notifications when the server already has them, and polls when it has not.
func TestConfigSetRefused(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("notifications on: ", on), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			err := e.admin.Do(ctx, "ACL", "SETUSER", "getter", "on", ">pw", "~*", "&*", "+@all", "-config", "+config|get").Err()
			if err != nil {
				t.Fatal(err)
			}
			flags := ""
			if on {
				flags = "Kg$xe"
			}
			if err := e.admin.ConfigSet(ctx, "notify-keyspace-events", flags).Err(); err != nil {
				t.Fatal(err)
			}
			before := e.admin.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]
			cli := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr(), Username: "getter", Password: "pw"})
			t.Cleanup(func() { cli.Close() })
			d, err := redis.NewDiscovery(cli, "Arith", opts()...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			ch, stop := d.Watch()
			t.Cleanup(stop)
			testsvc.Eventually(t, "the first list", func() bool { return d.Err() == nil })
			if on {
				e.checkMode(notify)
			} else {
				e.checkMode(poll)
			}
			a := startArith(t, e.client(), "")
			waitList(t, ch, "the server", keysAre(a.addr))
			if after := e.admin.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; after != before {
				t.Errorf("notify-keyspace-events changed from %q to %q", before, after)
			}
		})
	}
}
