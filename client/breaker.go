package client

import (
	"sync/atomic"
	"time"
)

// breaker is a per-server circuit breaker fed by call outcomes. After threshold consecutive
// failures (transport errors and timeouts; a service error is an answer, not a failure) it
// opens for cooldown: the server gets no calls. Then it lets one probe call through
// (half-open): success closes it, failure opens it for another cooldown.
type breaker struct {
	threshold int32 // 0 disables the breaker
	cooldown  time.Duration

	failures  atomic.Int32
	openUntil atomic.Int64 // unix nanoseconds; 0 means closed
	probing   atomic.Bool  // a half-open probe is in flight
}

// available reports whether a call may be routed here now (without taking the probe).
func (b *breaker) available(now int64) bool {
	until := b.openUntil.Load()
	return until == 0 || (now >= until && !b.probing.Load())
}

// acquire admits one call: always when closed, once per cooldown when half-open.
func (b *breaker) acquire(now int64) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	return now >= until && b.probing.CompareAndSwap(false, true)
}

func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

func (b *breaker) failure(now int64) {
	if b.threshold <= 0 {
		return
	}
	n := b.failures.Add(1)
	if n >= b.threshold || b.openUntil.Load() != 0 {
		b.openUntil.Store(now + int64(b.cooldown))
		b.probing.Store(false)
	}
}

// release gives back a probe whose outcome said nothing about the server (the caller
// cancelled).
func (b *breaker) release() {
	b.probing.Store(false)
}

// isOpen reports whether the breaker is open or half-open.
func (b *breaker) isOpen() bool { return b.openUntil.Load() != 0 }
