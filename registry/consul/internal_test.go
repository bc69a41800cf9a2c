package consul

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/discovery"
)

// TestNextIndex follows Consul's blocking query guidance: wait on the index answered,
// reset it to 0 when it goes backwards, never wait on 0.
func TestNextIndex(t *testing.T) {
	tests := []struct {
		name       string
		old, got   uint64
		next       uint64
		wantChange bool
	}{
		{"first query", 0, 7, 7, true},
		{"timeout, nothing changed", 7, 7, 7, false},
		{"changed", 7, 9, 9, true},
		{"went backwards: reset", 9, 4, 0, true},
		{"after a reset", 0, 4, 4, true},
		{"zero from Consul: wait on 1", 0, 0, 1, false},
		{"zero after an index", 9, 0, 1, true},
		{"zero again", 1, 0, 1, false},
	}
	for _, tt := range tests {
		next, changed := nextIndex(tt.old, tt.got)
		if next != tt.next || changed != tt.wantChange {
			t.Errorf("%s: nextIndex(%d, %d) = %d, %v; want %d, %v",
				tt.name, tt.old, tt.got, next, changed, tt.next, tt.wantChange)
		}
	}
}

// TestLimiter: a burst at once, then one query per period.
func TestLimiter(t *testing.T) {
	l := limiter{tokens: burst, last: time.Now()}
	start := time.Now()
	for range burst {
		if !l.wait(context.Background()) {
			t.Fatal("wait failed")
		}
	}
	if d := time.Since(start); d > every/2 {
		t.Errorf("the burst took %v", d)
	}
	if !l.wait(context.Background()) {
		t.Fatal("wait failed")
	}
	if d := time.Since(start); d < every*9/10 {
		t.Errorf("the query after the burst came after %v, want about %v", d, every)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.wait(ctx) {
		t.Error("wait with an ended context and no token succeeded")
	}
}

func TestPairs(t *testing.T) {
	const prefix = "rpcx_test/Arith/"
	kvs := api.KVPairs{
		{Key: "rpcx_test/Arith/tcp@127.0.0.1:8972", Value: []byte("weight=2")},
		nil,
		{Key: "rpcx_test/Arith/", Value: []byte("the folder")},
		{Key: "rpcx_test/Arith/quic@[::1]:9000", Value: nil},
		{Key: "rpcx_test/Arith/deeper/tcp@127.0.0.1:1", Value: []byte("x")},
		{Key: "rpcx_test/Arithmetic/tcp@127.0.0.1:1", Value: []byte("x")},
	}
	got := pairs(prefix, kvs)
	want := []discovery.KVPair{
		{Key: "tcp@127.0.0.1:8972", Value: "weight=2"},
		{Key: "quic@[::1]:9000", Value: ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("pairs = %+v, want %+v", got, want)
	}
	if got := pairs(prefix, nil); got == nil || len(got) != 0 {
		t.Errorf("pairs of nothing = %#v, want an empty list", got)
	}
}

func TestCatalogMeta(t *testing.T) {
	long := strings.Repeat("v", maxMetaValueLen+1)
	tests := []struct {
		metadata string
		tags     []string
		meta     map[string]string
	}{
		{"", nil, map[string]string{}},
		{"weight=10&group=a&group=b&group=a", []string{"a", "b"}, map[string]string{"weight": "10", "group": "a,b,a"}},
		{"state=inactive&x-y_z=1", nil, map[string]string{"state": "inactive", "x-y_z": "1"}},
		{"bad.key=1&consul-x=2&=3&ok=%41", nil, map[string]string{"ok": "A"}},
		{"long=" + long + "&short=1", nil, map[string]string{"short": "1"}},
		{"broken=%zz&good=1", nil, map[string]string{"good": "1"}},
	}
	for _, tt := range tests {
		tags, meta := catalogMeta(tt.metadata)
		if !slices.Equal(tags, tt.tags) || !maps.Equal(meta, tt.meta) {
			t.Errorf("catalogMeta(%.40q) = %q, %v; want %q, %v", tt.metadata, tags, meta, tt.tags, tt.meta)
		}
	}
	// At most 63 pairs, one being kept for "network".
	var b strings.Builder
	for i := range 100 {
		b.WriteString("k" + strings.Repeat("x", i) + "=1&")
	}
	if _, meta := catalogMeta(b.String()); len(meta) != maxMetaPairs-1 {
		t.Errorf("%d pairs, want %d", len(meta), maxMetaPairs-1)
	}
}

func TestRegistration(t *testing.T) {
	reg := registration("Arith", "tcp@[::1]:8972", "weight=2&network=kcp", "10s")
	if reg.ID != "Arith:tcp@[::1]:8972" || reg.Name != "Arith" || reg.Address != "::1" || reg.Port != 8972 {
		t.Errorf("registration %+v", reg)
	}
	if reg.Meta["network"] != "kcp" {
		t.Errorf("meta %v: the metadata's own network key wins", reg.Meta)
	}
	c := reg.Check
	if c.CheckID != "service:"+reg.ID || c.TTL != "10s" || c.Status != api.HealthPassing || c.DeregisterCriticalServiceAfter == "" {
		t.Errorf("check %+v", c)
	}
	reg = registration("Arith", "unix@/run/app.sock", "", "10s")
	if reg.ID != "Arith:unix@_run_app.sock" || reg.Address != "/run/app.sock" || reg.Port != 0 || reg.Meta["network"] != "unix" {
		t.Errorf("unix registration %+v", reg)
	}
}

func TestSessionTTL(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{0, 10 * time.Second},
		{2 * time.Second, 10 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{30*time.Second + 400*time.Millisecond, 30 * time.Second},
		{48 * time.Hour, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := sessionTTL(tt.in); got != tt.want {
			t.Errorf("sessionTTL(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzPairs: whatever keys and values Consul holds under the prefix, only keys directly
// under it come out, named by their last element, values unchanged.
func FuzzPairs(f *testing.F) {
	f.Add("rpcx_test/Arith/tcp@127.0.0.1:8972", []byte("weight=1"))
	f.Add("rpcx_test/Arith/a/b", []byte{0xff})
	f.Add("rpcx_test/Arith/", []byte(nil))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		const prefix = "rpcx_test/Arith/"
		got := pairs(prefix, api.KVPairs{{Key: key, Value: value}})
		if len(got) > 1 {
			t.Fatalf("%d pairs from one key", len(got))
		}
		if len(got) == 1 {
			if got[0].Key == "" || strings.Contains(got[0].Key, "/") || prefix+got[0].Key != key || got[0].Value != string(value) {
				t.Fatalf("pairs(%q, %q) = %+v", key, value, got[0])
			}
		}
	})
}

// FuzzCatalogMeta: any metadata string gives meta Consul accepts.
func FuzzCatalogMeta(f *testing.F) {
	f.Add("weight=10&group=a&group=b")
	f.Add("a.b=1&consul-x=2&%zz")
	f.Fuzz(func(t *testing.T, metadata string) {
		tags, meta := catalogMeta(metadata)
		if len(meta) > maxMetaPairs-1 {
			t.Fatalf("%d pairs", len(meta))
		}
		for k, v := range meta {
			if !validMetaKey(k) || len(v) > maxMetaValueLen {
				t.Fatalf("meta %q=%q", k, v)
			}
		}
		for _, tag := range tags {
			if tag == "" {
				t.Fatal("empty tag")
			}
		}
	})
}
