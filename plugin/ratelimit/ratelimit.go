package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/brisk-rpc/brisk/plugin/ipfilter"
	"github.com/brisk-rpc/brisk/server"
)

// DefaultMaxClients is PerClient's bound on the client buckets when maxClients <= 0.
const DefaultMaxClients = 10000

// Option configures a Limiter.
type Option func(*config)

type spec struct {
	r     rate.Limit
	burst int
}

type methodKey struct{ service, method string }

type config struct {
	server     *spec
	services   map[string]spec
	methods    map[methodKey]spec
	client     *spec
	maxClients int
	wait       time.Duration
}

// Server limits all requests together to r per second, with bursts of burst.
func Server(r rate.Limit, burst int) Option {
	return func(c *config) { c.server = &spec{r, burst} }
}

// Service limits the requests to one service to r per second, with bursts of burst.
func Service(service string, r rate.Limit, burst int) Option {
	return func(c *config) { c.services[service] = spec{r, burst} }
}

// Method limits the requests to one method of a service to r per second, with bursts of
// burst.
func Method(service, method string, r rate.Limit, burst int) Option {
	return func(c *config) { c.methods[methodKey{service, method}] = spec{r, burst} }
}

// PerClient limits each client IP address to r requests per second, with bursts of burst,
// keeping at most maxClients buckets (DefaultMaxClients if maxClients <= 0).
func PerClient(r rate.Limit, burst, maxClients int) Option {
	return func(c *config) {
		c.client = &spec{r, burst}
		c.maxClients = maxClients
	}
}

// Wait lets a request wait up to max for its tokens rather than be refused at once. A
// request whose wait would end after max, or after its context's deadline, is still
// refused at once, and gives its tokens back.
func Wait(max time.Duration) Option {
	return func(c *config) { c.wait = max }
}

// bucket is a token bucket and the error a request it refuses gets.
type bucket struct {
	lim *rate.Limiter
	err error
}

func newBucket(s spec, scope string) *bucket {
	return &bucket{lim: rate.NewLimiter(s.r, s.burst), err: fmt.Errorf("%w (%s)", server.ErrRateLimited, scope)}
}

// Limiter applies token buckets to requests. It is safe for concurrent use.
type Limiter struct {
	server    *bucket
	services  map[string]*bucket
	methods   map[methodKey]*bucket
	client    *spec
	clientErr error
	wait      time.Duration

	mu         sync.Mutex // taking tokens from several buckets is all or nothing
	clients    map[netip.Addr]*list.Element
	lru        list.List // of *clientEntry, most recently used first
	maxClients int

	rejected atomic.Uint64
}

type clientEntry struct {
	ip  netip.Addr
	lim *rate.Limiter
}

// New returns a Limiter with the given buckets. With none it limits nothing.
func New(opts ...Option) *Limiter {
	c := config{services: map[string]spec{}, methods: map[methodKey]spec{}}
	for _, o := range opts {
		o(&c)
	}
	l := &Limiter{
		services: map[string]*bucket{},
		methods:  map[methodKey]*bucket{},
		wait:     max(c.wait, 0),
	}
	if c.server != nil && c.server.r != rate.Inf {
		l.server = newBucket(*c.server, "server")
	}
	for name, s := range c.services {
		if s.r != rate.Inf {
			l.services[name] = newBucket(s, "service "+name)
		}
	}
	for k, s := range c.methods {
		if s.r != rate.Inf {
			l.methods[k] = newBucket(s, "method "+k.service+"."+k.method)
		}
	}
	if c.client != nil && c.client.r != rate.Inf {
		l.client = c.client
		l.clientErr = fmt.Errorf("%w (client)", server.ErrRateLimited)
		l.maxClients = c.maxClients
		if l.maxClients <= 0 {
			l.maxClients = DefaultMaxClients
		}
		l.clients = make(map[netip.Addr]*list.Element)
	}
	return l
}

// Rejected returns how many requests the Limiter has refused.
func (l *Limiter) Rejected() uint64 { return l.rejected.Load() }

// Clients returns how many client buckets the Limiter holds (at most the PerClient bound).
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// Middleware returns the middleware that applies the Limiter.
func (l *Limiter) Middleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if err := l.take(ctx, inv); err != nil {
				return err
			}
			return next(ctx, inv)
		}
	}
}

// clientBucket returns the bucket of ip, making it (and dropping the least recently used)
// if need be. l.mu is held.
func (l *Limiter) clientBucket(ip netip.Addr) *rate.Limiter {
	if el, ok := l.clients[ip]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*clientEntry).lim
	}
	if len(l.clients) >= l.maxClients {
		oldest := l.lru.Back()
		delete(l.clients, oldest.Value.(*clientEntry).ip)
		l.lru.Remove(oldest)
	}
	e := &clientEntry{ip: ip, lim: rate.NewLimiter(l.client.r, l.client.burst)}
	l.clients[ip] = l.lru.PushFront(e)
	return e.lim
}

// take takes a token from every bucket that applies to inv, or from none.
func (l *Limiter) take(ctx context.Context, inv *server.Invocation) error {
	var bufL [4]*rate.Limiter
	var bufE [4]error
	lims, errs := bufL[:0], bufE[:0]
	add := func(b *bucket) {
		if b != nil {
			lims, errs = append(lims, b.lim), append(errs, b.err)
		}
	}
	if len(l.methods) > 0 {
		add(l.methods[methodKey{inv.ServicePath, inv.ServiceMethod}])
	}
	if len(l.services) > 0 {
		add(l.services[inv.ServicePath])
	}
	add(l.server)

	l.mu.Lock()
	now := time.Now()
	if l.client != nil {
		ip := ipfilter.AddrIP(inv.RemoteAddr)
		if ip.IsValid() {
			ip = ip.Unmap().WithZone("")
		}
		lims, errs = append(lims, l.clientBucket(ip)), append(errs, l.clientErr)
	}
	if len(lims) == 0 {
		l.mu.Unlock()
		return nil
	}
	if l.wait == 0 {
		// Only this Limiter takes from its buckets, and it holds l.mu: every bucket that
		// holds a token now still holds it when it is taken.
		for i, lim := range lims {
			if lim.TokensAt(now) < 1 {
				l.mu.Unlock()
				l.rejected.Add(1)
				return errs[i]
			}
		}
		for _, lim := range lims {
			lim.AllowN(now, 1)
		}
		l.mu.Unlock()
		return nil
	}
	return l.reserve(ctx, now, lims, errs)
}

// reserve takes the tokens of every bucket in lims, waiting for them up to l.wait and the
// context's deadline. l.mu is held, and released.
func (l *Limiter) reserve(ctx context.Context, now time.Time, lims []*rate.Limiter, errs []error) error {
	var bufR [4]*rate.Reservation
	res := bufR[:0]
	limit := l.wait
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, dl.Sub(now))
	}
	var delay time.Duration
	for i, lim := range lims {
		r := lim.ReserveN(now, 1)
		res = append(res, r)
		if d := r.DelayFrom(now); !r.OK() || d > limit {
			for _, r := range res {
				r.CancelAt(now)
			}
			l.mu.Unlock()
			l.rejected.Add(1)
			return errs[i]
		}
		delay = max(delay, r.DelayFrom(now))
	}
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		at := time.Now()
		for _, r := range res {
			r.CancelAt(at)
		}
		l.mu.Unlock()
		return ctx.Err()
	}
}
