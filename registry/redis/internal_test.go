package redis

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
)

func TestSettings(t *testing.T) {
	tests := []struct {
		name         string
		opts         []registry.Option
		ttl, refresh time.Duration
		ok           bool
	}{
		{"defaults", nil, 30 * time.Second, 15 * time.Second, true},
		{"TTL only", []registry.Option{registry.WithTTL(10 * time.Second)}, 10 * time.Second, 5 * time.Second, true},
		{"refresh only", []registry.Option{registry.WithRefreshInterval(3 * time.Second)}, 6 * time.Second, 3 * time.Second, true},
		{"both", []registry.Option{registry.WithTTL(9 * time.Second), registry.WithRefreshInterval(2 * time.Second)}, 9 * time.Second, 2 * time.Second, true},
		{"refresh not below TTL", []registry.Option{registry.WithTTL(time.Second), registry.WithRefreshInterval(time.Second)}, 0, 0, false},
	}
	for _, tt := range tests {
		s, err := settings(tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if tt.ok && (s.TTL != tt.ttl || s.RefreshInterval != tt.refresh) {
			t.Errorf("%s: TTL %v refresh %v, want %v %v", tt.name, s.TTL, s.RefreshInterval, tt.ttl, tt.refresh)
		}
	}
}

func TestBadArguments(t *testing.T) {
	cli := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer cli.Close()
	if _, err := NewRegistrar(nil, "tcp@127.0.0.1:1"); err == nil {
		t.Error("NewRegistrar accepted a nil client")
	}
	for _, addr := range []string{"", "tcp@nohost", "tcp@127.0.0.1:0"} {
		if _, err := NewRegistrar(cli, addr); err == nil {
			t.Errorf("NewRegistrar accepted address %q", addr)
		}
	}
	if _, err := NewDiscovery(nil, "Arith"); err == nil {
		t.Error("NewDiscovery accepted a nil client")
	}
	for _, svc := range []string{"", "a/b", "a b"} {
		if _, err := NewDiscovery(cli, svc); err == nil {
			t.Errorf("NewDiscovery accepted service %q", svc)
		}
	}
	if _, err := NewDiscovery(cli, "Arith", registry.WithTTL(time.Second), registry.WithRefreshInterval(2*time.Second)); err == nil {
		t.Error("NewDiscovery accepted a refresh interval above the TTL")
	}
}

func TestValueEncoding(t *testing.T) {
	key := "/rpcx_test/Arith/tcp@127.0.0.1:8972"
	raw := encodeValue(key, "weight=10&group=a")
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["Key"] != key || m["Value"] != base64.StdEncoding.EncodeToString([]byte("weight=10&group=a")) {
		t.Fatalf("value %s", raw)
	}
	if _, ok := m["LastIndex"].(float64); !ok {
		t.Fatalf("LastIndex is not a number: %s", raw)
	}
	tests := []struct{ in, want string }{
		{raw, "weight=10&group=a"},
		{`{"Key":"/x","Value":"d2VpZ2h0PTI=","LastIndex":7}`, "weight=2"}, // as rpcx writes it
		{`{"Key":"/x","Value":"","LastIndex":0}`, ""},
		{`{"Key":"/x","Value":null,"LastIndex":0}`, ""},
		{` {"Value":"YQ=="}`, "a"},
		{"weight=3&group=b", "weight=3&group=b"}, // bare metadata
		{"", ""},
		{`{not json`, `{not json`},
		{`{"Value":"not base64!"}`, `{"Value":"not base64!"}`},
		{`{"Value":"YQ=="} trailing`, `{"Value":"YQ=="} trailing`},
		{`"quoted"`, `"quoted"`},
	}
	for _, tt := range tests {
		if got := decodeValue(tt.in); got != tt.want {
			t.Errorf("decodeValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeValue checks that decoding never panics, that what encodeValue writes decodes
// to the metadata it was given, and that a value that is not a JSON object is taken as
// bare metadata.
func FuzzDecodeValue(f *testing.F) {
	f.Add("weight=10&group=a")
	f.Add(`{"Key":"/rpcx_test/Arith/tcp@127.0.0.1:8972","Value":"d2VpZ2h0PTI=","LastIndex":12}`)
	f.Add(`{"Value":null}`)
	f.Add(`{"Value":"\u0000"}`)
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		got := decodeValue(s)
		if !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{") && got != s {
			t.Fatalf("bare value %q decoded to %q", s, got)
		}
		if back := decodeValue(encodeValue("/k/"+s, s)); back != s {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}

func TestGlobEscape(t *testing.T) {
	if got, want := globEscape(`/a*b?c[d]e\f`), `/a\*b\?c\[d\]e\\f`; got != want {
		t.Fatalf("globEscape = %q, want %q", got, want)
	}
}

// TestListSkipsWhatIsNotAnEntry writes keys by hand and checks what List keeps: entries
// directly under the service prefix (unix socket paths included), with wrapped or bare
// values, and nothing else: markers, deeper keys, other services sharing a prefix, names
// that match only because of glob characters, non-string keys.
func TestListSkipsWhatIsNotAnEntry(t *testing.T) {
	srv := realsvc.StartRedis(t)
	cli := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer cli.Close()
	ctx := context.Background()
	set := func(key, value string) {
		if err := cli.Set(ctx, key, value, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set("/base", encodeValue("/base", "rpcx_path"))
	set("/base/A*r", encodeValue("/base/A*r", "A*r"))
	set("/base/A*r/tcp@127.0.0.1:1", encodeValue("/base/A*r/tcp@127.0.0.1:1", "weight=2"))
	set("/base/A*r/tcp@127.0.0.1:2", "group=bare")
	set("/base/A*r/unix@/run/app.sock", encodeValue("/base/A*r/unix@/run/app.sock", ""))
	set("/base/A*r/tcp@127.0.0.1:3/deeper", "x")
	set("/base/A*r/", "empty address")
	set("/base/Axr/tcp@127.0.0.1:4", "matches only if * is a glob")
	set("/base/A*r2/tcp@127.0.0.1:5", "another service")
	if err := cli.HSet(ctx, "/base/A*r/tcp@127.0.0.1:6", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	s, err := settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &source{cli: cli, prefix: registry.ServicePath("/base", "A*r") + "/", settings: s}
	pairs, err := src.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(pairs, func(a, b discovery.KVPair) int { return strings.Compare(a.Key, b.Key) })
	want := []discovery.KVPair{
		{Key: "tcp@127.0.0.1:1", Value: "weight=2"},
		{Key: "tcp@127.0.0.1:2", Value: "group=bare"},
		{Key: "unix@/run/app.sock", Value: ""},
	}
	if !slices.Equal(pairs, want) {
		t.Fatalf("List = %v, want %v", pairs, want)
	}

	// Many entries: SCAN takes several rounds and MGET several batches.
	for i := range 700 {
		key := fmt.Sprintf("/base/Many/tcp@127.0.0.1:%d", 1000+i)
		set(key, encodeValue(key, fmt.Sprint("weight=", i)))
	}
	src.prefix = "/base/Many/"
	pairs, err = src.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 700 {
		t.Fatalf("List found %d of 700 entries", len(pairs))
	}
	for _, p := range pairs {
		var port int
		if _, err := fmt.Sscanf(p.Key, "tcp@127.0.0.1:%d", &port); err != nil || p.Value != fmt.Sprint("weight=", port-1000) {
			t.Fatalf("entry %v", p)
		}
	}
}

// TestWatchBreaksWithItsConnection checks that a watch on keyspace notifications returns an
// error when its connection is killed, so that the Discovery re-subscribes.
func TestWatchBreaksWithItsConnection(t *testing.T) {
	srv := realsvc.StartRedis(t)
	cli := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer cli.Close()
	s, err := settings([]registry.Option{registry.WithTTL(time.Minute), registry.WithTimeout(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	src := &source{cli: cli, prefix: "/rpcx_test/Arith/", settings: s}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, func() { changed <- struct{}{} }) }()
	testsvc.Recv(t, changed, "the first change signal, once subscribed")
	if n, err := cli.PubSubNumPat(ctx).Result(); err != nil || n != 1 {
		t.Fatalf("PUBSUB NUMPAT = %d, %v; want 1 pattern subscription", n, err)
	}
	if err := cli.Set(ctx, "/rpcx_test/Arith/tcp@127.0.0.1:1", "", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, changed, "a change signal for a SET")
	if err := cli.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, done, "Watch to return after its connection was killed"); err == nil {
		t.Fatal("Watch returned nil after its connection was killed")
	}
	// A watch that ends with its context returns nil.
	go func() { done <- src.Watch(ctx, func() {}) }()
	testsvc.Eventually(t, "the second subscription", func() bool {
		n, _ := cli.PubSubNumPat(ctx).Result()
		return n == 1
	})
	cancel()
	if err := testsvc.Recv(t, done, "Watch to return when its context ends"); err != nil {
		t.Fatalf("Watch returned %v when its context ended", err)
	}
}

func TestNotifyFlags(t *testing.T) {
	tests := []struct {
		flags string
		ok    bool
	}{
		{"", false}, {"AKE", true}, {"KA", true}, {"EA", false}, {"Kg$xe", true}, {"Kg$x", false}, {"xKg$eE", true},
	}
	for _, tt := range tests {
		if got := hasNotifyFlags(tt.flags); got != tt.ok {
			t.Errorf("hasNotifyFlags(%q) = %v", tt.flags, got)
		}
	}
}

// TestRefreshesAreQuiet checks that a refresh extends the keys without firing the "set"
// notifications that would make every client list again, and writes them again when they
// are gone.
func TestRefreshesAreQuiet(t *testing.T) {
	srv := realsvc.StartRedis(t)
	cli := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := []registry.Option{registry.WithTTL(2 * time.Second), registry.WithRefreshInterval(100 * time.Millisecond)}
	s, err := settings(opts)
	if err != nil {
		t.Fatal(err)
	}
	src := &source{cli: cli, prefix: "/rpcx_test/Arith/", settings: s}
	changed := make(chan struct{}, 1000)
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, func() { changed <- struct{}{} }) }()
	defer func() {
		cancel()
		testsvc.Recv(t, done, "Watch to return")
	}()
	testsvc.Recv(t, changed, "the first change signal")

	r, err := NewRegistrar(cli, "tcp@127.0.0.1:1", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if err := r.Register(ctx, "Arith", "weight=2"); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, changed, "the change signal of the registration")
	key := "/rpcx_test/Arith/tcp@127.0.0.1:1"
	pttl := func() time.Duration { return cli.PTTL(ctx, key).Val() }
	for range 3 {
		var low time.Duration
		testsvc.Eventually(t, "the key to age", func() bool { low = pttl(); return low < 1950*time.Millisecond })
		testsvc.Eventually(t, "a refresh to extend the key", func() bool { return pttl() > low })
	}
	// Events arrive in order: once this one is seen, every refresh's has been too.
	if err := cli.Set(ctx, "/rpcx_test/Arith/tcp@127.0.0.1:2", "", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, changed, "the change signal of a SET")
	if n := len(changed); n != 0 {
		t.Fatalf("refreshes fired %d change signals", n)
	}

	if err := cli.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the refresh to write the lost entry again", func() bool {
		v, err := cli.Get(ctx, key).Result()
		return err == nil && decodeValue(v) == "weight=2" && pttl() > 0
	})
	testsvc.Eventually(t, "the markers written again", func() bool {
		return cli.Exists(ctx, "/rpcx_test", "/rpcx_test/Arith").Val() == 2
	})
}
