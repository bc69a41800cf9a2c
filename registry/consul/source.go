package consul

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

const (
	// burst and every rate-limit the blocking query loop: burst queries at once, then one
	// per every, so a churning prefix cannot turn the loop into a busy one.
	burst = 3
	every = 100 * time.Millisecond
)

// source is the registry.Source of one service.
type source struct {
	cli      *api.Client
	settings registry.Settings
	prefix   string        // <basePath>/<service>/ without the leading slash
	wait     time.Duration // how long one blocking query waits for a change
}

// List implements registry.Source. No key under the prefix is an empty list.
func (s *source) List(ctx context.Context) ([]discovery.KVPair, error) {
	kvs, _, err := s.cli.KV().List(s.prefix, qopts(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: listing %s: %w", s.prefix, err)
	}
	return pairs(s.prefix, kvs), nil
}

// pairs returns the entries among kvs: the keys directly under prefix, named by their last
// element (the server's network@host:port).
func pairs(prefix string, kvs api.KVPairs) []discovery.KVPair {
	out := make([]discovery.KVPair, 0, len(kvs))
	for _, kv := range kvs {
		if kv == nil {
			continue
		}
		addr, ok := strings.CutPrefix(kv.Key, prefix)
		if !ok || addr == "" || strings.Contains(addr, "/") {
			continue // not an entry of this layout (a deeper key, say)
		}
		out = append(out, discovery.KVPair{Key: addr, Value: string(kv.Value)})
	}
	return out
}

// Watch implements registry.Source: a loop of blocking queries on the prefix, calling
// changed after the first one and whenever the index changes. It returns the error of the
// first query that fails.
func (s *source) Watch(ctx context.Context, changed func()) error {
	var index uint64
	first := true
	limit := limiter{tokens: burst, last: time.Now()}
	for {
		if !limit.wait(ctx) {
			return nil
		}
		// The agent answers within wait plus up to wait/16 of jitter; the timeout bounds
		// the rest, so a registry that silently stopped answering is noticed.
		qctx, cancel := context.WithTimeout(ctx, s.wait+s.wait/16+s.settings.Timeout)
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: s.wait}).WithContext(qctx)
		_, meta, err := s.cli.KV().List(s.prefix, q)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("consul: watching %s: %w", s.prefix, err)
		}
		next, moved := nextIndex(index, meta.LastIndex)
		index = next
		if first || moved {
			first = false
			changed()
		}
	}
}

// limiter is a token bucket: burst queries at once, then one per every.
type limiter struct {
	tokens float64
	last   time.Time
}

// wait takes a token, waiting for one if needed; it reports false if ctx ended first.
func (l *limiter) wait(ctx context.Context) bool {
	now := time.Now()
	l.tokens = min(burst, l.tokens+float64(now.Sub(l.last))/float64(every))
	l.last = now
	if l.tokens < 1 {
		d := time.Duration((1 - l.tokens) * float64(every))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		l.tokens, l.last = 1, now.Add(d)
	}
	l.tokens--
	return true
}

// nextIndex returns the index of the next blocking query after one made with index old
// answered got, and whether the answer may differ from the last one. As Consul asks, an
// index that went backwards is reset to 0 (the next query answers at once and starts over)
// and an index of 0 from Consul becomes 1, so that the next query blocks.
func nextIndex(old, got uint64) (next uint64, moved bool) {
	switch {
	case got == 0: // a Consul bug, the documentation says: wait on index 1
		return 1, old > 1
	case got < old:
		return 0, true
	default:
		return got, got != old
	}
}
