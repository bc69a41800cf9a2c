package registry_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/server"
)

// memRegistry is an in-memory registry for testing the backend-independent logic; every
// backend package tests the same behaviour against its real server.
type memRegistry struct {
	mu       sync.Mutex
	entries  map[string]string // service -> value
	down     error             // non-nil: every call fails with it
	closed   bool
	watchers map[*memWatch]struct{}
	refreshs int
}

type memWatch struct {
	changed func()
	broken  chan error
}

func newMemRegistry() *memRegistry {
	return &memRegistry{entries: make(map[string]string), watchers: make(map[*memWatch]struct{})}
}

func (m *memRegistry) notifyLocked() {
	for w := range m.watchers {
		w.changed()
	}
}

func (m *memRegistry) Put(_ context.Context, service, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return m.down
	}
	m.entries[service] = value
	m.notifyLocked()
	return nil
}

func (m *memRegistry) Delete(_ context.Context, service string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return m.down
	}
	delete(m.entries, service)
	m.notifyLocked()
	return nil
}

func (m *memRegistry) Refresh(_ context.Context, _ map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshs++
	return m.down
}

func (m *memRegistry) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// setDown makes the registry unreachable (err non-nil) or reachable again; going down
// breaks every watch.
func (m *memRegistry) setDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = err
	if err != nil {
		for w := range m.watchers {
			w.broken <- err
			delete(m.watchers, w)
		}
	}
}

func (m *memRegistry) snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.entries)
}

// memSource lists the entries of memRegistry as if each service name were a server
// address: Key is the service, Value its value.
type memSource struct{ m *memRegistry }

func (s memSource) List(context.Context) ([]discovery.KVPair, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.down != nil {
		return nil, s.m.down
	}
	var out []discovery.KVPair
	for k, v := range s.m.entries {
		out = append(out, discovery.KVPair{Key: k, Value: v})
	}
	return out, nil
}

func (s memSource) Watch(ctx context.Context, changed func()) error {
	w := &memWatch{changed: changed, broken: make(chan error, 1)}
	s.m.mu.Lock()
	if err := s.m.down; err != nil {
		s.m.mu.Unlock()
		return err
	}
	s.m.watchers[w] = struct{}{}
	s.m.mu.Unlock()
	changed()
	select {
	case <-ctx.Done():
		s.m.mu.Lock()
		delete(s.m.watchers, w)
		s.m.mu.Unlock()
		return nil
	case err := <-w.broken:
		return err
	}
}

func fastSettings() registry.Settings {
	return registry.NewSettings(
		registry.WithRefreshInterval(10*time.Millisecond),
		registry.WithBackoff(time.Millisecond, 10*time.Millisecond),
		registry.WithTimeout(time.Second),
	)
}

func TestRegistrarLifecycle(t *testing.T) {
	m := newMemRegistry()
	r := registry.NewRegistrar(m, "tcp@127.0.0.1:8972", fastSettings())
	ctx := context.Background()
	if err := r.Register(ctx, "Arith", "weight=2&state=active"); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, "Echo", ""); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want map[string]string
	}{
		{"registered", func() error { return nil },
			map[string]string{"Arith": "weight=2", "Echo": ""}},
		{"inactive", func() error { return r.SetInactive(ctx, true) },
			map[string]string{"Arith": "weight=2&state=inactive", "Echo": "state=inactive"}},
		{"new metadata keeps inactive", func() error { return r.Register(ctx, "Echo", "group=a") },
			map[string]string{"Arith": "weight=2&state=inactive", "Echo": "group=a&state=inactive"}},
		{"active again", func() error { return r.SetInactive(ctx, false) },
			map[string]string{"Arith": "weight=2", "Echo": "group=a"}},
		{"unregister", func() error { return r.Unregister(ctx, "Echo") },
			map[string]string{"Arith": "weight=2"}},
		{"close", func() error { return r.Close(ctx) }, map[string]string{}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := m.snapshot(); !maps.Equal(got, st.want) {
			t.Fatalf("%s: registry holds %v, want %v", st.name, got, st.want)
		}
	}
	if !m.closed {
		t.Error("Close did not close the store")
	}
	if err := r.Register(ctx, "Arith", ""); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestRegistrarRetriesFailedWrites(t *testing.T) {
	m := newMemRegistry()
	m.setDown(errors.New("registry unreachable"))
	r := registry.NewRegistrar(m, "tcp@127.0.0.1:8972", fastSettings())
	defer r.Close(context.Background())
	err := r.Register(context.Background(), "Arith", "weight=3")
	if err == nil {
		t.Fatal("Register succeeded against an unreachable registry")
	}
	m.setDown(nil)
	testsvc.Eventually(t, "the entry written by a refresh", func() bool {
		return m.snapshot()["Arith"] == "weight=3"
	})
}

func TestRegistrarRejectsBadServiceNames(t *testing.T) {
	r := registry.NewRegistrar(newMemRegistry(), "tcp@127.0.0.1:1", fastSettings())
	defer r.Close(context.Background())
	for _, name := range []string{"", "a/b", "a b"} {
		if err := r.Register(context.Background(), name, ""); err == nil {
			t.Errorf("Register(%q) succeeded", name)
		}
	}
}

func TestServerAdvertisesAndWithdraws(t *testing.T) {
	m := newMemRegistry()
	r := registry.NewRegistrar(m, "tcp@127.0.0.1:8972", fastSettings())
	s := server.NewServer(server.WithRegistrar(r))
	if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=7"); err != nil {
		t.Fatal(err)
	}
	if got := m.snapshot()["Arith"]; got != "weight=7" {
		t.Fatalf("registry holds %q after RegisterName", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.snapshot(); len(got) != 0 {
		t.Fatalf("registry holds %v after Shutdown", got)
	}
}

func TestServerReportsAdvertiseFailure(t *testing.T) {
	m := newMemRegistry()
	m.setDown(errors.New("registry unreachable"))
	r := registry.NewRegistrar(m, "tcp@127.0.0.1:8972", fastSettings())
	s := server.NewServer(server.WithRegistrar(r))
	defer s.Close()
	err := s.RegisterName("Arith", testsvc.NewArith(), "")
	if err == nil {
		t.Fatal("RegisterName hid the registry's failure")
	}
	if _, ok := s.Services()["Arith"]; !ok {
		t.Fatal("the service is not served although only advertising failed")
	}
}

func TestDiscoveryFollowsTheRegistry(t *testing.T) {
	m := newMemRegistry()
	d := registry.NewDiscovery(memSource{m}, fastSettings())
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()

	// Starting before any server: an empty list and no error once listed.
	testsvc.Eventually(t, "first list", func() bool { return d.Err() == nil })
	if got := d.Servers(); len(got) != 0 {
		t.Fatalf("Servers = %v, want none", got)
	}

	ctx := context.Background()
	_ = m.Put(ctx, "tcp@10.0.0.1:1", "weight=2")
	waitFor(t, ch, "tcp@10.0.0.1:1")

	// Unreachable: the last list stays and Err says why.
	m.setDown(errors.New("connection refused"))
	testsvc.Eventually(t, "Err to report the outage", func() bool { return d.Err() != nil })
	if got := keys(d.Servers()); got != "[tcp@10.0.0.1:1]" {
		t.Fatalf("list during the outage = %s", got)
	}

	// Back, with a change made meanwhile: the watch is re-established and lists again.
	m.setDown(nil)
	_ = m.Put(ctx, "tcp@10.0.0.2:1", "")
	waitFor(t, ch, "tcp@10.0.0.1:1 tcp@10.0.0.2:1")
	testsvc.Eventually(t, "Err to clear", func() bool { return d.Err() == nil })

	// Inactive servers are filtered out by default.
	_ = m.Put(ctx, "tcp@10.0.0.1:1", "state=inactive")
	waitFor(t, ch, "tcp@10.0.0.2:1")
}

func TestDiscoveryDeliversTheLastOfABurst(t *testing.T) {
	m := newMemRegistry()
	d := registry.NewDiscovery(memSource{m}, fastSettings())
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()
	want := ""
	for i := range 50 {
		addr := fmt.Sprintf("tcp@10.0.0.%d:1", i+10)
		_ = m.Put(context.Background(), addr, "")
		if i%2 == 1 {
			_ = m.Delete(context.Background(), addr)
		} else {
			want += " " + addr
		}
	}
	waitFor(t, ch, want[1:])
}

func TestDiscoveryCloseEndsWatches(t *testing.T) {
	d := registry.NewDiscovery(memSource{newMemRegistry()}, fastSettings())
	ch, _ := d.Watch()
	<-ch
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("watch channel still open after Close")
	}
}

// waitFor reads lists from ch until one lists exactly want (space-separated keys).
func waitFor(t *testing.T, ch <-chan []discovery.Server, want string) {
	t.Helper()
	deadline := time.NewTimer(testsvc.Bound)
	defer deadline.Stop()
	var last string
	for {
		select {
		case list := <-ch:
			last = keys(list)
			if last == "["+want+"]" {
				return
			}
		case <-deadline.C:
			t.Fatalf("last list %s, want [%s]", last, want)
		}
	}
}

func keys(list []discovery.Server) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Key
	}
	return fmt.Sprint(out)
}
