package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// ErrClosed is returned by a Registrar used after Close.
var ErrClosed = errors.New("registry: closed")

// Store is what a backend implements for the server side: writing, keeping alive and
// deleting the entries of one server address. Calls are serialised by the Registrar, and
// each carries a context bounded by Settings.Timeout.
type Store interface {
	// Put writes the entry of service with value (the metadata string to advertise),
	// creating the marker keys the layout wants, and overwriting an older entry.
	Put(ctx context.Context, service, value string) error
	// Delete removes the entry of service. A missing entry is not an error.
	Delete(ctx context.Context, service string) error
	// Refresh keeps every entry alive (renews the lease or session, or rewrites TTL keys).
	// entries maps each service to its value; a store that finds its lease or session lost
	// writes them all again.
	Refresh(ctx context.Context, entries map[string]string) error
	// Close releases what the store holds in the registry (lease, session), after the
	// Registrar deleted its entries.
	Close(ctx context.Context) error
}

// Registrar advertises one server's services through a Store. It implements
// server.Registrar; the backend packages construct it.
type Registrar struct {
	store    Store
	settings Settings
	address  string

	mu       sync.Mutex // serialises every store call and guards the fields below
	services map[string]string
	inactive bool
	dirty    bool // a write failed: write everything again at the next refresh
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// NewRegistrar returns a Registrar writing through store and starts its refresh loop.
// address is the server's network@host:port as clients dial it.
func NewRegistrar(store Store, address string, settings Settings) *Registrar {
	r := &Registrar{
		store:    store,
		settings: settings,
		address:  address,
		services: make(map[string]string),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go r.refreshLoop()
	return r
}

// Address returns the server address the Registrar advertises.
func (r *Registrar) Address() string { return r.address }

// Register advertises service with metadata, or replaces its metadata (a new weight, say).
// If the registry cannot be written now, the entry is kept and written at the next refresh;
// the error says so.
func (r *Registrar) Register(ctx context.Context, service, metadata string) error {
	if err := CheckService(service); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.services[service] = metadata
	return r.putLocked(ctx, service)
}

// Unregister withdraws service.
func (r *Registrar) Unregister(ctx context.Context, service string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, ok := r.services[service]; !ok {
		return nil
	}
	delete(r.services, service)
	ctx, cancel := context.WithTimeout(ctx, r.settings.Timeout)
	defer cancel()
	if err := r.store.Delete(ctx, service); err != nil {
		return fmt.Errorf("registry: withdrawing %s: %w", service, err)
	}
	return nil
}

// SetInactive marks every entry state=inactive (true) or active again (false). Clients
// stop choosing an inactive server, so a server marks itself inactive, waits for its
// clients to move away, then shuts down.
func (r *Registrar) SetInactive(ctx context.Context, inactive bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.inactive = inactive
	var errs []error
	for service := range r.services {
		errs = append(errs, r.putLocked(ctx, service))
	}
	return errors.Join(errs...)
}

// Services returns the advertised services and the values written for them.
func (r *Registrar) Services() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.valuesLocked()
}

func (r *Registrar) valuesLocked() map[string]string {
	out := make(map[string]string, len(r.services))
	for service, md := range r.services {
		out[service] = WithState(md, r.inactive)
	}
	return out
}

func (r *Registrar) putLocked(ctx context.Context, service string) error {
	ctx, cancel := context.WithTimeout(ctx, r.settings.Timeout)
	defer cancel()
	if err := r.store.Put(ctx, service, WithState(r.services[service], r.inactive)); err != nil {
		r.dirty = true
		return fmt.Errorf("registry: advertising %s at %s (retried every %v): %w",
			service, r.address, r.settings.RefreshInterval, err)
	}
	return nil
}

// Close stops refreshing, deletes every entry and releases the store's lease or session.
// Calling it again does nothing.
func (r *Registrar) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.stop)
	r.mu.Unlock()
	<-r.done // the loop takes r.mu; wait for it outside the lock

	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.settings.Timeout)
	defer cancel()
	var errs []error
	for service := range r.services {
		if err := r.store.Delete(ctx, service); err != nil {
			errs = append(errs, fmt.Errorf("registry: withdrawing %s: %w", service, err))
		}
	}
	if err := r.store.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *Registrar) refreshLoop() {
	defer close(r.done)
	t := time.NewTicker(r.settings.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.refresh()
		}
	}
}

// refresh keeps the entries alive and, after a failed write, writes them all again.
func (r *Registrar) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.settings.Timeout)
	defer cancel()
	values := r.valuesLocked()
	if err := r.store.Refresh(ctx, maps.Clone(values)); err != nil {
		r.dirty = true
		r.settings.Logger.Warn("brisk registry: refresh failed", "address", r.address, "err", err)
		return
	}
	if !r.dirty {
		return
	}
	r.dirty = false
	for service, value := range values {
		if err := r.store.Put(ctx, service, value); err != nil {
			r.dirty = true
			r.settings.Logger.Warn("brisk registry: write failed", "service", service, "address", r.address, "err", err)
		}
	}
}
