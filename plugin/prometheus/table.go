package prometheus

import (
	"sync"
	"sync/atomic"

	prom "github.com/prometheus/client_golang/prometheus"
)

// table holds the series of each (service, method) label pair made so far, at most max of
// them, read without locks (a copy-on-write map) and added to under a mutex.
type table[T any] struct {
	make func(service, method string) T
	max  int

	pairs atomic.Pointer[map[string]map[string]T]

	mu      sync.Mutex
	n       int
	unknown atomic.Pointer[T]
}

func newTable[T any](max int, mk func(service, method string) T) *table[T] {
	t := &table[T]{make: mk, max: max}
	empty := map[string]map[string]T{}
	t.pairs.Store(&empty)
	return t
}

// get returns the series of a pair already made.
func (t *table[T]) get(service, method string) (T, bool) {
	v, ok := (*t.pairs.Load())[service][method]
	return v, ok
}

// add returns the series of a pair, made now if it is new and the table is not full, else
// the series of ("unknown", "unknown").
func (t *table[T]) add(service, method string) T {
	if v, ok := t.get(service, method); ok {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.pairs.Load()
	if v, ok := old[service][method]; ok {
		return v
	}
	if t.n >= t.max {
		return t.unknownLocked()
	}
	next := make(map[string]map[string]T, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	inner := make(map[string]T, len(old[service])+1)
	for k, v := range old[service] {
		inner[k] = v
	}
	v := t.make(service, method)
	inner[method] = v
	next[service] = inner
	t.pairs.Store(&next)
	t.n++
	return v
}

// other returns the series of ("unknown", "unknown"), made on first use.
func (t *table[T]) other() T {
	if p := t.unknown.Load(); p != nil {
		return *p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unknownLocked()
}

func (t *table[T]) unknownLocked() T {
	if p := t.unknown.Load(); p != nil {
		return *p
	}
	v := t.make(Unknown, Unknown)
	t.unknown.Store(&v)
	return v
}

// outcome is an index into outcomeNames.
type outcome uint8

const (
	ok outcome = iota
	failed
	refused
	notFound
	timeout
	canceled
	unavailable
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OutcomeOK, OutcomeError, OutcomeRefused, OutcomeNotFound, OutcomeTimeout, OutcomeCanceled, OutcomeUnavailable,
}

// outcomeCounters are the request counters of one label pair, one per outcome, made on
// first use so that only outcomes that happened are exported.
type outcomeCounters struct {
	vec             *prom.CounterVec
	service, method string
	c               [numOutcomes]atomic.Pointer[prom.Counter]
}

func (o *outcomeCounters) inc(oc outcome) {
	if p := o.c[oc].Load(); p != nil {
		(*p).Inc()
		return
	}
	c := o.vec.WithLabelValues(o.service, o.method, outcomeNames[oc])
	o.c[oc].Store(&c) // a racing store keeps the same child: the vector hands out one per labels
	c.Inc()
}
