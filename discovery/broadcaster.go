package discovery

import (
	"errors"
	"sync"
)

// ErrClosed is returned by operations that need an open discovery, such as
// MultipleServers.Update after Close.
var ErrClosed = errors.New("discovery: closed")

// Discovery lists the servers of one service and reports changes.
//
// Implementations must be safe for concurrent use. Lists are full lists (never deltas),
// sorted by Key with each Key once; the caller owns the slice it receives but must treat
// each Server's Groups and Values as read-only.
type Discovery interface {
	// Servers returns the current list.
	Servers() []Server
	// Watch returns a channel that holds the current list at once and then receives the
	// full list after every change. The channel has one slot: a list the watcher has not
	// read yet is replaced by a newer one, so a slow watcher skips lists but always gets
	// the latest. A watcher may receive a list equal to the previous one.
	//
	// stop ends the watch and closes the channel; it may be called any number of times.
	// After Close, Watch returns a closed channel.
	Watch() (ch <-chan []Server, stop func())
	// Close ends every watch (closing the channels) and stops the discovery's goroutines.
	// Servers still returns the last list. Calling Close again does nothing and returns
	// nil.
	Close() error
}

// HealthReporter is implemented by discoveries that can tell an empty list from an
// unavailable source, such as a registry they cannot reach. NewCache uses it.
//
// A discovery that implements it must deliver its list to its watchers again whenever Err
// changes between nil and non-nil (Broadcaster does), so that a watcher which judged a list
// by Err re-judges it.
type HealthReporter interface {
	// Err returns nil while the list reflects the source, or why it may not: the last
	// lookup or connection error.
	Err() error
}

// Broadcaster holds a list of servers and its watchers. It implements Discovery and
// HealthReporter, and registries embed it: they call Set with each new list from their
// backend and SetErr when the backend becomes unreachable or reachable again, and stop
// their goroutines when Done is closed.
//
// Set filters lists (see Option): by default it drops state=inactive servers. The zero
// value is ready to use with the default filter.
type Broadcaster struct {
	mu       sync.Mutex
	keep     Filter // nil: default (Active)
	list     []Server
	err      error
	watchers map[*watcher]struct{}
	done     chan struct{}
	closed   bool
}

type watcher struct {
	ch chan []Server
}

// NewBroadcaster returns an empty Broadcaster filtering with opts.
func NewBroadcaster(opts ...Option) *Broadcaster {
	c := newConfig(opts)
	return &Broadcaster{keep: c.keep()}
}

// Set replaces the list with list, filtered, sorted by Key and with duplicate keys removed
// (the first one stays), and reports whether that changed it. Watchers are notified only of
// changes. Set does not keep list; it does nothing after Close.
func (b *Broadcaster) Set(list []Server) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	keep := b.keep
	if keep == nil {
		keep = Active
	}
	list = normalize(list, keep)
	if sameServers(list, b.list) {
		return false
	}
	b.list = list
	b.notifyLocked()
	return true
}

// SetErr records whether the source is reachable: nil when the list reflects it, or the
// error that keeps it from doing so. The list is unchanged; when err changes between nil
// and non-nil, watchers receive the list again (see HealthReporter). A registry coming
// back calls Set with the fresh list first, then SetErr(nil).
func (b *Broadcaster) SetErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	changed := (err == nil) != (b.err == nil)
	b.err = err
	if changed {
		b.notifyLocked()
	}
}

// Err returns the error last given to SetErr.
func (b *Broadcaster) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Servers returns a copy of the current list.
func (b *Broadcaster) Servers() []Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return cloneList(b.list)
}

// Watch implements Discovery.
func (b *Broadcaster) Watch() (<-chan []Server, func()) {
	w := &watcher{ch: make(chan []Server, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(w.ch)
		return w.ch, func() {}
	}
	if b.watchers == nil {
		b.watchers = make(map[*watcher]struct{})
	}
	b.watchers[w] = struct{}{}
	w.ch <- cloneList(b.list)
	return w.ch, func() { b.stop(w) }
}

func (b *Broadcaster) stop(w *watcher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.watchers[w]; ok {
		delete(b.watchers, w)
		close(w.ch)
	}
}

// Done returns a channel that is closed when the Broadcaster is closed.
func (b *Broadcaster) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.doneLocked()
}

func (b *Broadcaster) doneLocked() chan struct{} {
	if b.done == nil {
		b.done = make(chan struct{})
	}
	return b.done
}

// Close closes every watch channel and Done. It returns nil, every time.
func (b *Broadcaster) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.doneLocked())
	for w := range b.watchers {
		close(w.ch)
	}
	b.watchers = nil
	return nil
}

// notifyLocked gives every watcher the current list, replacing one it has not read. The
// sends never block: senders hold b.mu, so after the drain the slot stays free.
func (b *Broadcaster) notifyLocked() {
	for w := range b.watchers {
		select {
		case <-w.ch:
		default:
		}
		w.ch <- cloneList(b.list)
	}
}

func cloneList(list []Server) []Server {
	return append([]Server(nil), list...)
}
