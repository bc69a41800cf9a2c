package server

import (
	"context"
	"errors"
	"fmt"
)

// Registrar advertises a server's services in a service registry, so that clients find the
// server there. The registry packages (registry/etcd, registry/zookeeper, ...) provide one.
//
// The server calls Register for every service registered after the Registrar is added, and
// Close when it shuts down, before it drains its connections, so that clients stop choosing
// it at once.
type Registrar interface {
	// Register advertises service with its metadata string (the URL-query form a client
	// parses, for example "weight=10&group=a"). Registering a service again replaces its
	// metadata.
	Register(ctx context.Context, service, metadata string) error
	// Close withdraws every entry the Registrar wrote.
	Close(ctx context.Context) error
}

// WithRegistrar adds r to the registrars told of every service the server registers. A
// server may have several (two registries during a migration, for example).
func WithRegistrar(r Registrar) Option {
	return func(s *Server) { s.registrars = append(s.registrars, r) }
}

// advertise tells every registrar about a newly registered service. The service is served
// whatever the outcome; the error says it may not be advertised (yet).
func (s *Server) advertise(name, metadata string) error {
	var errs []error
	for _, r := range s.registrars {
		if err := r.Register(context.Background(), name, metadata); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("brisk: service %q is served but not advertised: %w", name, err)
	}
	return nil
}

// withdraw closes every registrar once, however many times the server is shut down.
func (s *Server) withdraw(ctx context.Context) error {
	var err error
	s.withdrawOnce.Do(func() {
		var errs []error
		for _, r := range s.registrars {
			if e := r.Close(ctx); e != nil {
				s.logger.Warn("brisk: withdrawing from registry failed", "err", e)
				errs = append(errs, e)
			}
		}
		err = errors.Join(errs...)
	})
	return err
}
