package limiter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/server"
)

// ErrLimited is the error a shed request gets: it wraps server.ErrOverloaded.
var ErrLimited = fmt.Errorf("%w (concurrency limit)", server.ErrOverloaded)

// Limiter enforces an adaptive limit on the requests in flight. It is safe for concurrent
// use.
type Limiter struct {
	alg      *Gradient
	now      func() time.Time
	onLimit  func(int)
	limit    atomic.Int64 // stored by alg under its lock
	reported atomic.Int64 // the last limit told to onLimit
	inflight atomic.Int64
	shed     atomic.Uint64
}

// New returns a Limiter with the Gradient algorithm configured by cfg.
func New(cfg Config) *Limiter {
	alg := NewGradient(cfg)
	l := &Limiter{alg: alg, now: alg.cfg.Now, onLimit: cfg.OnLimit}
	l.limit.Store(int64(alg.Limit()))
	l.reported.Store(l.limit.Load())
	alg.pub = &l.limit
	return l
}

// Limit returns the current limit on requests in flight.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of requests running under the Limiter.
func (l *Limiter) InFlight() int { return int(l.inflight.Load()) }

// Shed returns how many requests the Limiter has refused.
func (l *Limiter) Shed() uint64 { return l.shed.Load() }

// Algorithm returns the Limiter's algorithm (its baseline, whether it probes).
func (l *Limiter) Algorithm() *Gradient { return l.alg }

// Acquire admits a request if fewer than Limit() are in flight. If it does, the request
// must call done once it ends, with its error (nil for success); if it does not, it returns
// ErrLimited. Middleware does this for every request; Acquire serves other uses.
func (l *Limiter) Acquire() (done func(err error), err error) {
	n := l.inflight.Add(1)
	if n > l.limit.Load() {
		l.inflight.Add(-1)
		l.shed.Add(1)
		return nil, ErrLimited
	}
	start := l.now()
	return func(err error) { l.release(start, int(n), err) }, nil
}

func (l *Limiter) release(start time.Time, inflight int, err error) {
	rtt := l.now().Sub(start)
	l.inflight.Add(-1)
	if errors.Is(err, server.ErrOverloaded) || errors.Is(err, server.ErrRateLimited) || errors.Is(err, context.Canceled) {
		return // not a measure of the server's work
	}
	l.alg.Update(rtt, inflight)
	if l.onLimit != nil {
		if limit := l.limit.Load(); l.reported.Swap(limit) != limit {
			l.onLimit(int(limit))
		}
	}
}

// Middleware returns the middleware that enforces the limit.
func (l *Limiter) Middleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			n := l.inflight.Add(1)
			if n > l.limit.Load() {
				l.inflight.Add(-1)
				l.shed.Add(1)
				return ErrLimited
			}
			start := l.now()
			err := next(ctx, inv)
			l.release(start, int(n), err)
			return err
		}
	}
}
