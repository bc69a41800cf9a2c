package discovery_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/brisk-rpc/brisk/discovery"
)

// fakeSource is a Discovery whose watch channel the test drives: it is unbuffered, so a
// send returns once the Cache has taken the list, and a second send once it has applied
// the first. Its stop does not close the channel, which the Cache must cope with.
type fakeSource struct {
	ch       chan []discovery.Server
	mu       sync.Mutex
	list     []discovery.Server
	err      error
	closes   int
	closeErr error
}

func newFakeSource(list []discovery.Server) *fakeSource {
	return &fakeSource{ch: make(chan []discovery.Server), list: list}
}

func (f *fakeSource) Servers() []discovery.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list
}

func (f *fakeSource) Watch() (<-chan []discovery.Server, func()) { return f.ch, func() {} }

func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return f.closeErr
}

func (f *fakeSource) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeSource) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// deliver hands list to the Cache and waits until it has been applied.
func (f *fakeSource) deliver(list []discovery.Server) {
	f.ch <- list
	f.ch <- list // taken only after the first is applied; applying it again changes nothing
}

// silent hides fakeSource's Err: a source that does not implement HealthReporter.
type silent struct{ discovery.Discovery }

func TestCacheWithoutHealth(t *testing.T) {
	a := servers(t, "tcp@10.0.0.1:1", "")
	b := servers(t, "tcp@10.0.0.2:1", "", "tcp@10.0.0.3:1", "state=inactive")
	src := newFakeSource(a)
	c := discovery.NewCache(silent{src})
	defer c.Close()
	ch, stop := c.Watch()
	defer stop()
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Fatalf("first list: %v", got)
	}

	src.deliver(nil)
	if !c.Stale() || len(c.Servers()) != 1 || c.Err() != nil {
		t.Errorf("after an empty list: stale %v, servers %v, err %v", c.Stale(), keys(c.Servers()), c.Err())
	}
	noRecv(t, ch)

	src.deliver(b)
	if c.Stale() {
		t.Error("still stale after a non-empty list")
	}
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.2:1"}) {
		t.Errorf("after a new list: %v", got)
	}
}

func TestCacheWithHealth(t *testing.T) {
	src := newFakeSource(servers(t, "tcp@10.0.0.1:1", ""))
	c := discovery.NewCache(src)
	defer c.Close()
	ch, stop := c.Watch()
	defer stop()
	recv(t, ch)

	// Unavailable and empty: keep the last list.
	errDown := errors.New("registry unreachable")
	src.setErr(errDown)
	src.deliver(nil)
	if !c.Stale() || len(c.Servers()) != 1 || !errors.Is(c.Err(), errDown) {
		t.Errorf("while down: stale %v, servers %v, err %v", c.Stale(), keys(c.Servers()), c.Err())
	}
	noRecv(t, ch)

	// Back, and really empty (the source re-delivers on recovery): take it.
	src.setErr(nil)
	src.deliver(nil)
	if c.Stale() || len(c.Servers()) != 0 || c.Err() != nil {
		t.Errorf("after recovery: stale %v, servers %v, err %v", c.Stale(), keys(c.Servers()), c.Err())
	}
	if got := recv(t, ch); len(got) != 0 {
		t.Errorf("after recovery: %v", keys(got))
	}

	// A non-empty list is taken even while the source reports an error.
	src.setErr(errDown)
	src.deliver(servers(t, "tcp@10.0.0.2:1", ""))
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.2:1"}) {
		t.Errorf("list while unhealthy: %v", got)
	}
}

func TestCacheStartsEmpty(t *testing.T) {
	src := newFakeSource(nil)
	c := discovery.NewCache(silent{src}, discovery.WithGroup("a"))
	defer c.Close()
	if c.Stale() || len(c.Servers()) != 0 {
		t.Errorf("empty source: stale %v, servers %v", c.Stale(), keys(c.Servers()))
	}
	src.deliver(servers(t, "tcp@10.0.0.1:1", "group=a", "tcp@10.0.0.2:1", "group=b"))
	if got := keys(c.Servers()); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Errorf("group filter: %v", got)
	}
}

func TestCacheClose(t *testing.T) {
	src := newFakeSource(servers(t, "tcp@10.0.0.1:1", ""))
	src.closeErr = errors.New("close failed")
	c := discovery.NewCache(src)
	ch, stop := c.Watch()
	recv(t, ch)
	if err := c.Close(); !errors.Is(err, src.closeErr) {
		t.Errorf("Close = %v, want the source's error", err)
	}
	if err := c.Close(); !errors.Is(err, src.closeErr) {
		t.Errorf("second Close = %v", err)
	}
	if src.closes != 1 {
		t.Errorf("source closed %d times", src.closes)
	}
	closed(t, ch)
	stop()
	if len(c.Servers()) != 1 {
		t.Error("Servers after Close lost the last list")
	}
}

// TestCacheSourceClosed closes the source under the Cache: the Cache keeps its list.
func TestCacheSourceClosed(t *testing.T) {
	src, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@10.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := discovery.NewCache(src)
	ch, stop := c.Watch()
	defer stop()
	recv(t, ch)
	src.Close()
	if len(c.Servers()) != 1 {
		t.Error("list lost when the source closed")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, ch)
}

// TestCacheOverBroadcaster runs the Cache over a real source whose list changes.
func TestCacheOverBroadcaster(t *testing.T) {
	src := discovery.NewBroadcaster()
	c := discovery.NewCache(src)
	defer c.Close()
	ch, stop := c.Watch()
	defer stop()
	recv(t, ch)
	want := servers(t, "tcp@10.0.0.1:1", "", "tcp@10.0.0.2:1", "")
	src.Set(want[:1])
	src.Set(want)
	for list := range ch {
		if reflect.DeepEqual(list, want) {
			return
		}
	}
	t.Error("watch closed before the last list")
}
