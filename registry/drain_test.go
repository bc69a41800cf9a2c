package registry_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/server"
)

// sharedKV is an in-memory registry several servers write to, keyed by service and
// address, for testing the server's Drain end to end; the backends test against real
// registries.
type sharedKV struct {
	mu       sync.Mutex
	entries  map[string]map[string]string // service -> address -> value
	history  []string                     // "address value" of every write
	watchers map[chan struct{}]struct{}
}

func newSharedKV() *sharedKV {
	return &sharedKV{entries: map[string]map[string]string{}, watchers: map[chan struct{}]struct{}{}}
}

func (kv *sharedKV) changedLocked() {
	for ch := range kv.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

type kvStore struct {
	kv   *sharedKV
	addr string
}

func (s kvStore) Put(_ context.Context, service, value string) error {
	s.kv.mu.Lock()
	defer s.kv.mu.Unlock()
	if s.kv.entries[service] == nil {
		s.kv.entries[service] = map[string]string{}
	}
	s.kv.entries[service][s.addr] = value
	s.kv.history = append(s.kv.history, s.addr+" "+value)
	s.kv.changedLocked()
	return nil
}

func (s kvStore) Delete(_ context.Context, service string) error {
	s.kv.mu.Lock()
	defer s.kv.mu.Unlock()
	delete(s.kv.entries[service], s.addr)
	s.kv.changedLocked()
	return nil
}

func (kvStore) Refresh(context.Context, map[string]string) error { return nil }
func (kvStore) Close(context.Context) error                      { return nil }

type kvSource struct {
	kv      *sharedKV
	service string
}

func (s kvSource) List(context.Context) ([]discovery.KVPair, error) {
	s.kv.mu.Lock()
	defer s.kv.mu.Unlock()
	var out []discovery.KVPair
	for addr, v := range s.kv.entries[s.service] {
		out = append(out, discovery.KVPair{Key: addr, Value: v})
	}
	return out, nil
}

func (s kvSource) Watch(ctx context.Context, changed func()) error {
	ch := make(chan struct{}, 1)
	s.kv.mu.Lock()
	s.kv.watchers[ch] = struct{}{}
	s.kv.mu.Unlock()
	defer func() {
		s.kv.mu.Lock()
		delete(s.kv.watchers, ch)
		s.kv.mu.Unlock()
	}()
	changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
			changed()
		}
	}
}

// Drain marks the server inactive, waits for clients to move away, then shuts down: under
// a steady load through a Failfast XClient (no retries to hide a failure), not one call
// fails.
func TestServerDrainUnderLoad(t *testing.T) {
	kv := newSharedKV()
	var servers []*server.Server
	var addrs []string
	var served [2]atomic.Int64
	for i := range 2 {
		ln := testsvc.Listen(t)
		addr := "tcp@" + ln.Addr().String()
		reg := registry.NewRegistrar(kvStore{kv, addr}, addr, fastSettings())
		count := func(next server.Handler) server.Handler {
			return func(ctx context.Context, inv *server.Invocation) error {
				served[i].Add(1)
				return next(ctx, inv)
			}
		}
		s := server.NewServer(server.WithRegistrar(reg), server.WithMiddleware(count))
		if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=1"); err != nil {
			t.Fatal(err)
		}
		testsvc.ServeOn(t, s, ln)
		servers, addrs = append(servers, s), append(addrs, addr)
	}
	d := registry.NewDiscovery(kvSource{kv, "Arith"}, fastSettings())
	defer d.Close()
	x := client.NewXClient("Arith", client.Failfast, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	testsvc.Eventually(t, "both servers listed", func() bool { return len(x.Endpoints()) == 2 })

	var calls, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var r testsvc.Reply
				if err := x.Call(context.Background(), "Mul", &testsvc.Args{A: 2, B: 3}, &r); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				calls.Add(1)
			}
		}()
	}
	testsvc.Eventually(t, "load on both servers", func() bool { return served[0].Load() > 10 && served[1].Load() > 10 })

	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	if err := servers[0].Drain(ctx, 100*time.Millisecond); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	before := calls.Load()
	testsvc.Eventually(t, "calls to go on after the drain", func() bool { return calls.Load() > before+100 })
	close(stop)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during the drain; first: %v", n, calls.Load(), firstErr.Load())
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if _, ok := kv.entries["Arith"][addrs[0]]; ok {
		t.Fatalf("the drained server is still registered: %v", kv.entries)
	}
	var drainedWrites []string
	for _, h := range kv.history {
		if strings.HasPrefix(h, addrs[0]+" ") {
			drainedWrites = append(drainedWrites, h)
		}
	}
	want := []string{addrs[0] + " weight=1", addrs[0] + " weight=1&state=inactive"}
	if !maps.Equal(toSet(drainedWrites), toSet(want)) || len(drainedWrites) != 2 {
		t.Fatalf("the drained server wrote %q, want %q", drainedWrites, want)
	}
}

func toSet(list []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		out[s] = true
	}
	return out
}
