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

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/registrytest"
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

// start starts Redis again on the same port after srv.Stop: every key is lost.
func (e *env) start() {
	e.t.Helper()
	e.srv.Start()
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

// registrarOn returns a function making Registrars on cli, with the test settings.
func registrarOn(cli goredis.UniversalClient) func(t testing.TB, address string) *registry.Registrar {
	return func(t testing.TB, address string) *registry.Registrar {
		t.Helper()
		return registrytest.MustRegistrar(t)(redis.NewRegistrar(cli, address, opts()...))
	}
}

// startArith serves Arith on loopback and registers it through a registrar using cli,
// with metadata. The server is closed at cleanup.
func startArith(t *testing.T, cli goredis.UniversalClient, metadata string) *registrytest.Server {
	t.Helper()
	return registrytest.Serve(t, registrarOn(cli), "Arith", metadata)
}

// backend is Redis for registrytest.Run, with Discoveries watching in mode m: a Redis
// server per test (restarted empty: no persistence), a client per Registrar and
// Discovery, raw reads of the JSON-wrapped entries.
func backend(m mode) registrytest.Backend {
	return registrytest.Backend{Start: func(t *testing.T) *registrytest.Registry {
		e := newEnv(t)
		return &registrytest.Registry{
			NewRegistrar: func(t testing.TB, address string) *registry.Registrar {
				return registrarOn(e.client())(t, address)
			},
			NewDiscovery: func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery {
				d, _ := e.discover(m, service, opts...)
				return d
			},
			Entry: func(t testing.TB, service, address string) (string, bool) {
				key := registry.Key("", service, address)
				raw, err := e.admin.Get(context.Background(), key).Result()
				if errors.Is(err, goredis.Nil) {
					return "", false
				}
				var w struct{ Value []byte }
				if err == nil {
					err = json.Unmarshal([]byte(raw), &w)
				}
				if err != nil {
					t.Fatalf("GET %s: %q, %v", key, raw, err)
				}
				return string(w.Value), true
			},
			CheckWatch: func(testing.TB) { e.checkMode(m) },
			Stop:       e.srv.Stop,
			Start:      e.start,
			// The registry came back empty: the refresh writes the entry again.
			Restored: func(t testing.TB, service, address string) {
				key := registry.Key("", service, address)
				testsvc.Eventually(t, "the refresh to write the entry again", func() bool { return e.exists(key) })
			},
			// A crashed server's Redis client is closed: its refreshes fail, nothing
			// deletes the entry, which expires after the TTL (not before a refresh
			// interval).
			NewCrashable: func(t testing.TB, address string) (*registry.Registrar, func()) {
				cli := goredis.NewClient(&goredis.Options{Addr: e.srv.Addr()})
				return registrarOn(cli)(t, address), func() { _ = cli.Close() }
			},
			MinExpiry: refresh,
		}
	}}
}

// TestSuite runs the behaviours every backend shares against a Redis server, with
// Discoveries watching through keyspace notifications and by polling.
func TestSuite(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) { registrytest.Run(t, backend(m)) })
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
	list := registrytest.Await(t, ch, "both entries", registrytest.KeysAre("tcp@10.0.0.1:8972", "tcp@10.0.0.2:8972"))
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
			registrytest.Await(t, ch, "the server", registrytest.KeysAre(a.Addr))
			if after := e.admin.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; after != before {
				t.Errorf("notify-keyspace-events changed from %q to %q", before, after)
			}
		})
	}
}
