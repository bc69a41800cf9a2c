package registry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
)

// Source is what a backend implements for the client side: listing and watching the
// entries of one service.
type Source interface {
	// List returns the service's entries: Key is the server's network@host:port (the last
	// element of the registry key) and Value its metadata string. No entry is an empty list,
	// not an error.
	List(ctx context.Context) ([]discovery.KVPair, error)
	// Watch calls changed once its watch is established and again whenever the list may
	// have changed (spurious calls are fine; changed never blocks), until ctx ends, when
	// it returns nil, or the watch breaks, when it returns why.
	Watch(ctx context.Context, changed func()) error
}

// ErrWatchEnded is reported through Err when a Source's watch ended without an error.
var ErrWatchEnded = errors.New("registry: watch ended")

// ErrNotListed is reported through Err until the registry has answered the first listing.
var ErrNotListed = errors.New("registry: not listed yet")

// Discovery lists one service through a Source and keeps the list current. It implements
// discovery.Discovery and discovery.HealthReporter.
type Discovery struct {
	b        *discovery.Broadcaster
	src      Source
	settings Settings
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewDiscovery starts watching src.
func NewDiscovery(src Source, settings Settings) *Discovery {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Discovery{
		b:        discovery.NewBroadcaster(settings.Filters...),
		src:      src,
		settings: settings,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	// Until the first list arrives the registry's state is unknown, not "no servers".
	d.b.SetErr(ErrNotListed)
	go d.run(ctx)
	return d
}

// Servers implements discovery.Discovery.
func (d *Discovery) Servers() []discovery.Server { return d.b.Servers() }

// Watch implements discovery.Discovery.
func (d *Discovery) Watch() (<-chan []discovery.Server, func()) { return d.b.Watch() }

// Err returns nil while the list reflects the registry, or the error that keeps it from
// doing so (the last list is kept meanwhile).
func (d *Discovery) Err() error { return d.b.Err() }

// Close stops watching and closes every watch channel.
func (d *Discovery) Close() error {
	d.cancel()
	<-d.done
	return d.b.Close()
}

func (d *Discovery) run(ctx context.Context) {
	defer close(d.done)
	backoff := d.settings.MinBackoff
	for {
		if d.watchOnce(ctx) {
			backoff = d.settings.MinBackoff
		}
		if ctx.Err() != nil {
			return
		}
		// Full jitter keeps many clients from hammering a registry that comes back.
		wait := time.Duration(rand.Int64N(int64(backoff))) + backoff/2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, d.settings.MaxBackoff)
	}
}

// watchOnce runs one watch until it breaks or ctx ends, listing whenever it fires. It
// reports whether it listed at least once.
func (d *Discovery) watchOnce(ctx context.Context) (listed bool) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fired := make(chan struct{}, 1)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- d.src.Watch(wctx, func() {
			select {
			case fired <- struct{}{}:
			default: // a list is already due; it will see this change too
			}
		})
	}()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-watchErr
			return listed
		case err := <-watchErr:
			if ctx.Err() != nil {
				return listed
			}
			if err == nil {
				err = ErrWatchEnded
			}
			d.b.SetErr(err)
			d.settings.Logger.Warn("brisk registry: watch broke", "err", err)
			return listed
		case <-fired:
			if err := d.list(ctx); err != nil {
				cancel()
				<-watchErr
				if ctx.Err() == nil {
					d.b.SetErr(err)
					d.settings.Logger.Warn("brisk registry: list failed", "err", err)
				}
				return listed
			}
			listed = true
		}
	}
}

func (d *Discovery) list(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, d.settings.Timeout)
	defer cancel()
	pairs, err := d.src.List(lctx)
	if err != nil {
		return err
	}
	servers, perr := discovery.ParseServers(pairs)
	if perr != nil {
		d.settings.Logger.Warn("brisk registry: skipping bad entries", "err", perr)
	}
	d.b.Set(servers)
	d.b.SetErr(nil)
	return nil
}
