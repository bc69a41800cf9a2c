package discovery

import "sync"

// Cache is a Discovery that wraps another and keeps serving the last non-empty list while
// the source is unavailable, so that a registry outage does not leave a client without
// servers.
//
// How the source signals unavailability: a non-empty list from the source is always taken.
// An empty list is taken only if the source implements HealthReporter and its Err returns
// nil at that moment (the service really has no servers); otherwise the Cache keeps the last
// non-empty list and Stale reports true. A source that does not implement HealthReporter
// therefore never takes a Cache from some servers to none: that is treated as an outage.
// Sources built on Broadcaster re-deliver their list when they recover, so the Cache
// re-judges an empty list then.
//
// Cache implements HealthReporter by forwarding the source's Err (nil if it has none).
type Cache struct {
	inner  Discovery
	health HealthReporter // nil if inner does not report
	b      *Broadcaster
	stop   func()
	quit   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	good  bool // the list held came from a non-empty source list
	stale bool

	closeOnce sync.Once
	closeErr  error
}

// NewCache wraps inner, which the Cache owns: Cache.Close closes it. Filtering options apply
// to the lists the Cache delivers; by default inactive servers are dropped.
func NewCache(inner Discovery, opts ...Option) *Cache {
	c := &Cache{
		inner: inner,
		b:     NewBroadcaster(opts...),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	c.health, _ = inner.(HealthReporter)
	ch, stop := inner.Watch()
	c.stop = stop
	c.apply(inner.Servers())
	go c.run(ch)
	return c
}

func (c *Cache) run(ch <-chan []Server) {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case list, ok := <-ch:
			if !ok {
				return // the source was closed: keep serving the last list
			}
			c.apply(list)
		}
	}
}

// apply takes a list from the source, or keeps the current one (see Cache).
func (c *Cache) apply(list []Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(list) == 0 && c.good && (c.health == nil || c.health.Err() != nil) {
		c.stale = true
		return
	}
	c.good = len(list) > 0
	c.stale = false
	c.b.Set(list)
}

// Stale reports whether the Cache is serving a kept list because the source went empty
// while unavailable.
func (c *Cache) Stale() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stale
}

// Err implements HealthReporter: the source's Err, or nil if the source does not report.
func (c *Cache) Err() error {
	if c.health == nil {
		return nil
	}
	return c.health.Err()
}

// Servers implements Discovery.
func (c *Cache) Servers() []Server { return c.b.Servers() }

// Watch implements Discovery.
func (c *Cache) Watch() (<-chan []Server, func()) { return c.b.Watch() }

// Close ends the Cache's watches, stops its goroutine and closes the source, returning the
// source's Close error. Calling it again returns the same error.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		c.stop()
		<-c.done
		c.b.Close()
		c.closeErr = c.inner.Close()
	})
	return c.closeErr
}
