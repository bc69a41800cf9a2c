package etcd

import (
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/registry"
)

func TestEntryAddress(t *testing.T) {
	const prefix = "/rpcx_test/Arith/"
	tests := []struct {
		key, addr string
		ok        bool
	}{
		{"/rpcx_test/Arith/tcp@127.0.0.1:8972", "tcp@127.0.0.1:8972", true},
		{"/rpcx_test/Arith/127.0.0.1:8972", "127.0.0.1:8972", true},
		{"/rpcx_test/Arith/", "", false},
		{"/rpcx_test/Arith", "", false},
		{"/rpcx_test", "", false},
		{"/rpcx_test/Arith/unix@/run/a.sock", "", false},
		{"/rpcx_test/Arithmetic/tcp@127.0.0.1:1", "", false},
		{"rpcx_test/Arith/tcp@127.0.0.1:1", "", false},
	}
	for _, tt := range tests {
		addr, ok := entryAddress(prefix, tt.key)
		if addr != tt.addr || ok != tt.ok {
			t.Errorf("entryAddress(%q) = %q, %v; want %q, %v", tt.key, addr, ok, tt.addr, tt.ok)
		}
	}
}

// FuzzEntryAddress: whatever key etcd returns, an address is taken only from a key exactly
// one level below the prefix, and is that level verbatim.
func FuzzEntryAddress(f *testing.F) {
	f.Add("/rpcx_test/Arith/", "/rpcx_test/Arith/tcp@127.0.0.1:8972")
	f.Add("/rpcx_test/Arith/", "/rpcx_test/Arith/a/b")
	f.Add("/a/", "/a/")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		addr, ok := entryAddress(prefix, key)
		if !ok {
			if addr != "" {
				t.Fatalf("not an entry, but address %q", addr)
			}
			return
		}
		if addr == "" || strings.Contains(addr, "/") || prefix+addr != key {
			t.Fatalf("entryAddress(%q, %q) = %q", prefix, key, addr)
		}
	})
}

func TestTTLSeconds(t *testing.T) {
	for _, tt := range []struct {
		ttl  time.Duration
		want int64
	}{
		{0, 30}, // the default
		{time.Millisecond, 1},
		{2 * time.Second, 2},
		{2500 * time.Millisecond, 3},
	} {
		if got := ttlSeconds(registry.NewSettings(registry.WithTTL(tt.ttl))); got != tt.want {
			t.Errorf("ttlSeconds(%v) = %d, want %d", tt.ttl, got, tt.want)
		}
	}
}
