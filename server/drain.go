package server

import (
	"context"
	"errors"
	"time"
)

// Drainer is implemented by registrars that can mark a server inactive without withdrawing
// it, so that clients stop choosing it while it still answers (registry.Registrar does).
type Drainer interface {
	SetInactive(ctx context.Context, inactive bool) error
}

// Drain takes the server out of service without failing a call: it marks the server
// inactive in every registry that supports it (see Drainer), waits until clients have moved
// away — no request has arrived for quiet — then shuts down as Shutdown does (withdrawing
// the registry entries, finishing the calls in flight). If ctx ends while waiting, Drain
// shuts down at once, still gracefully, bounded by the same ctx.
//
// A server that has no registrar cannot tell its clients; it still waits for quiet, which
// then ends when its clients stop calling on their own.
func (s *Server) Drain(ctx context.Context, quiet time.Duration) error {
	var errs []error
	for _, r := range s.registrars {
		if d, ok := r.(Drainer); ok {
			if err := d.SetInactive(ctx, true); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.waitQuiet(ctx, quiet)
	errs = append(errs, s.Shutdown(ctx))
	return errors.Join(errs...)
}

// waitQuiet returns once no request has arrived for quiet, or when ctx ends.
func (s *Server) waitQuiet(ctx context.Context, quiet time.Duration) {
	if quiet <= 0 {
		return
	}
	tick := time.NewTicker(max(quiet/8, time.Millisecond))
	defer tick.Stop()
	last, since := s.requestsSeen(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := s.requestsSeen(); n != last {
				last, since = n, now
			} else if now.Sub(since) >= quiet {
				return
			}
		}
	}
}

// requestsSeen sums the requests the open connections have received (each counts its own,
// so the hot path touches no shared counter). A closed connection's share disappears from
// the sum, which only makes the sum change: quiet restarts, as it should while clients
// still churn.
func (s *Server) requestsSeen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.conns {
		n += c.received.Load()
	}
	return n
}
