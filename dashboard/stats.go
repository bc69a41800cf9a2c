package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/server"
)

// Names under which Stats counts calls it does not give a row of their own.
const (
	// NotFoundService is the service name under which calls to services or methods the
	// server does not have are counted (so that callers cannot grow the table at will).
	NotFoundService = "(not found)"
	// OtherService is the service name under which calls are counted once the table holds
	// WithMaxMethods methods.
	OtherService = "(other)"
)

// reservedPrefix is the prefix of brisk's built-in services, which Stats does not count:
// they are not the server's own methods, and the dashboard calls them itself.
const reservedPrefix = "_brisk."

// Defaults of the StatsOptions.
const (
	DefaultWindow     = 10 * time.Second
	DefaultMaxMethods = 256
)

// StatsOption configures Stats.
type StatsOption func(*Stats)

// WithWindow sets how far back the recent figures (calls/s, error rate, percentiles) look,
// in whole seconds between 1 s and 5 min (default DefaultWindow).
func WithWindow(d time.Duration) StatsOption {
	return func(st *Stats) {
		st.window = min(max(int64(d/time.Second), 1), 300)
	}
}

// WithMaxMethods bounds the methods Stats keeps a row for (default DefaultMaxMethods);
// calls to further methods are counted under OtherService.
func WithMaxMethods(n int) StatsOption {
	return func(st *Stats) { st.maxMethods = max(n, 1) }
}

// Stats collects per-method call statistics and the connected clients of a server. Install
// its Middleware and ConnHooks when making the server:
//
//	st := dashboard.NewStats()
//	s := server.NewServer(server.WithMiddleware(st.Middleware()), server.WithConnHooks(st.ConnHooks()))
//
// Recording a call takes no lock shared between methods: the method's counters are found
// in a map that is copied when a method is first seen, and updated with atomics and the
// method's own mutex. Built-in services (brisk's reserved "_brisk." prefix) are not counted.
// A Stats may serve any number of servers; it is safe for concurrent use.
type Stats struct {
	now        func() time.Time
	started    time.Time
	window     int64 // seconds
	maxMethods int

	mu      sync.Mutex                                 // serialises adding methods
	methods atomic.Pointer[map[methodKey]*methodStats] // copied on write

	clients sync.Map // raw net.Conn → *clientStats
	byAddr  sync.Map // net.Addr (pointer types only) → *clientStats
	tracked atomic.Bool
}

// NewStats returns an empty Stats.
func NewStats(opts ...StatsOption) *Stats {
	st := &Stats{now: time.Now, window: int64(DefaultWindow / time.Second), maxMethods: DefaultMaxMethods}
	for _, o := range opts {
		o(st)
	}
	st.started = st.now()
	empty := map[methodKey]*methodStats{}
	st.methods.Store(&empty)
	return st
}

type methodKey struct{ service, method string }

// methodStats are one method's counters: totals and in-flight with atomics, the recent
// window under mu, as a ring of one-second slots.
type methodStats struct {
	key      methodKey
	calls    atomic.Uint64
	errors   atomic.Uint64
	inFlight atomic.Int64

	mu    sync.Mutex
	slots []slot
}

// slot holds what happened during one second.
type slot struct {
	sec    int64 // Unix second the slot counts; others are stale
	calls  uint32
	errors uint32
	hist   histogram
}

func (m *methodStats) record(now time.Time, d time.Duration, failed bool) {
	m.calls.Add(1)
	if failed {
		m.errors.Add(1)
	}
	sec := now.Unix()
	m.mu.Lock()
	s := &m.slots[int(uint64(sec)%uint64(len(m.slots)))]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.calls++
	if failed {
		s.errors++
	}
	s.hist.record(d)
	m.mu.Unlock()
}

// Middleware returns the server middleware that counts calls. Put it first (outermost) to
// count the calls other middleware refuses too.
func (st *Stats) Middleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if strings.HasPrefix(inv.ServicePath, reservedPrefix) {
				return next(ctx, inv)
			}
			m := (*st.methods.Load())[methodKey{inv.ServicePath, inv.ServiceMethod}]
			if m != nil {
				m.inFlight.Add(1)
				defer m.inFlight.Add(-1)
			}
			start := st.now()
			err := next(ctx, inv)
			end := st.now()
			if m == nil {
				// The first call of a method: give it a row now that the server has said
				// whether it exists (its in-flight count starts with the next call).
				m = st.method(inv.ServicePath, inv.ServiceMethod, errors.Is(err, server.ErrNotFound))
			}
			m.record(end, end.Sub(start), err != nil)
			if inv.RemoteAddr != nil && isPointer(inv.RemoteAddr) {
				if c, ok := st.byAddr.Load(inv.RemoteAddr); ok {
					c.(*clientStats).calls.Add(1)
				}
			}
			return err
		}
	}
}

// method returns the counters of service.method, adding them if need be.
func (st *Stats) method(service, method string, notFound bool) *methodStats {
	key := methodKey{service, method}
	if notFound {
		key = methodKey{NotFoundService, ""}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	old := *st.methods.Load()
	if m := old[key]; m != nil {
		return m
	}
	if !notFound && st.userMethods(old) >= st.maxMethods {
		key = methodKey{OtherService, ""}
		if m := old[key]; m != nil {
			return m
		}
	}
	m := &methodStats{key: key, slots: make([]slot, st.window+1)}
	next := make(map[methodKey]*methodStats, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = m
	st.methods.Store(&next)
	return m
}

// userMethods counts the rows that are methods (not the catch-all rows).
func (st *Stats) userMethods(ms map[methodKey]*methodStats) int {
	n := len(ms)
	for _, k := range []methodKey{{NotFoundService, ""}, {OtherService, ""}} {
		if ms[k] != nil {
			n--
		}
	}
	return n
}

// clientStats is one connected client.
type clientStats struct {
	network string
	addr    string
	since   time.Time
	calls   atomic.Uint64
}

// ConnHooks returns the server's connection hooks that keep the list of connected clients.
// They never refuse a connection.
func (st *Stats) ConnHooks() server.ConnHooks {
	st.tracked.Store(true)
	return server.ConnHooks{
		Accepted: func(nc net.Conn) error {
			if !reflect.TypeOf(nc).Comparable() {
				return nil // cannot be a map key; such a connection is not listed
			}
			c := &clientStats{since: st.now()}
			if ra := nc.RemoteAddr(); ra != nil {
				c.network, c.addr = ra.Network(), ra.String()
				if isPointer(ra) {
					st.byAddr.Store(ra, c)
				}
			}
			st.clients.Store(nc, c)
			return nil
		},
		Closed: func(nc net.Conn) {
			if !reflect.TypeOf(nc).Comparable() {
				return
			}
			if c, ok := st.clients.LoadAndDelete(nc); ok {
				if ra := nc.RemoteAddr(); ra != nil && isPointer(ra) {
					st.byAddr.CompareAndDelete(ra, c)
				}
			}
		},
	}
}

// isPointer reports whether a is one of the address types connections return the same
// pointer for on every call, which is what lets a call be counted for its client without
// formatting the address.
func isPointer(a net.Addr) bool {
	switch a.(type) {
	case *net.TCPAddr, *net.UDPAddr, *net.UnixAddr:
		return true
	}
	return false
}

// Snapshot is what Stats knows at one moment. Latencies are in milliseconds; the rates,
// error rates and percentiles cover the last WindowSeconds.
type Snapshot struct {
	Time          time.Time `json:"time"`
	Started       time.Time `json:"started"`
	WindowSeconds int       `json:"window_seconds"`
	Totals        Totals    `json:"totals"`
	// Methods are sorted by service, then method.
	Methods []MethodStats `json:"methods"`
	// Clients are the connected clients, oldest first; nil if ConnHooks was never called
	// (ClientsTracked is false).
	Clients        []Client `json:"clients"`
	ClientsTracked bool     `json:"clients_tracked"`
}

// Totals sums every method.
type Totals struct {
	Calls    uint64  `json:"calls"`
	Errors   uint64  `json:"errors"`
	InFlight int64   `json:"in_flight"`
	Rate     float64 `json:"rate"`
	Clients  int     `json:"clients"`
}

// MethodStats are one method's figures.
type MethodStats struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	// Calls and Errors count every call since the method was first called.
	Calls    uint64 `json:"calls"`
	Errors   uint64 `json:"errors"`
	InFlight int64  `json:"in_flight"`
	// WindowCalls and WindowErrors count the calls of the window; Rate is calls per
	// second over it, ErrorRate the fraction of its calls that failed (0 to 1).
	WindowCalls  uint64  `json:"window_calls"`
	WindowErrors uint64  `json:"window_errors"`
	Rate         float64 `json:"rate"`
	ErrorRate    float64 `json:"error_rate"`
	// Latency percentiles of the window's calls, in milliseconds (0 without calls): the
	// time from this middleware to the method's return, as the server sees it (not the
	// network, nor the wait for a connection's read loop).
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
}

// Client is one connected client.
type Client struct {
	Network string    `json:"network"`
	Address string    `json:"address"`
	Since   time.Time `json:"since"`
	// Calls counts its calls (for TCP, UDP-based and unix connections).
	Calls uint64 `json:"calls"`
}

// Snapshot returns the current figures.
func (st *Stats) Snapshot() Snapshot {
	now := st.now()
	snap := Snapshot{Time: now, Started: st.started, WindowSeconds: int(st.window), Methods: []MethodStats{}}
	// The window is the current (partial) second and the st.window-1 before it, or the
	// time since Stats started if that is shorter, but at least a second (so that a burst
	// right after start is not extrapolated to a rate it never had).
	span := float64(st.window-1) + float64(now.Nanosecond())/1e9
	if up := now.Sub(st.started).Seconds(); up < span {
		span = up
	}
	span = max(span, 1)
	sec := now.Unix()
	var hist histogram
	for _, m := range *st.methods.Load() {
		ms := MethodStats{Service: m.key.service, Method: m.key.method, Calls: m.calls.Load(),
			Errors: m.errors.Load(), InFlight: max(m.inFlight.Load(), 0)}
		hist = histogram{}
		m.mu.Lock()
		for i := range m.slots {
			s := &m.slots[i]
			if s.sec > sec-st.window && s.sec <= sec {
				ms.WindowCalls += uint64(s.calls)
				ms.WindowErrors += uint64(s.errors)
				hist.add(&s.hist)
			}
		}
		m.mu.Unlock()
		ms.Rate = float64(ms.WindowCalls) / span
		if ms.WindowCalls > 0 {
			ms.ErrorRate = float64(ms.WindowErrors) / float64(ms.WindowCalls)
		}
		q := hist.quantiles(0.5, 0.9, 0.99)
		ms.P50, ms.P90, ms.P99 = millis(q[0]), millis(q[1]), millis(q[2])
		snap.Totals.Calls += ms.Calls
		snap.Totals.Errors += ms.Errors
		snap.Totals.InFlight += ms.InFlight
		snap.Totals.Rate += ms.Rate
		snap.Methods = append(snap.Methods, ms)
	}
	slices.SortFunc(snap.Methods, func(a, b MethodStats) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Method, b.Method))
	})
	if st.tracked.Load() {
		snap.ClientsTracked = true
		snap.Clients = []Client{}
		st.clients.Range(func(_, v any) bool {
			c := v.(*clientStats)
			snap.Clients = append(snap.Clients, Client{Network: c.network, Address: c.addr, Since: c.since, Calls: c.calls.Load()})
			return true
		})
		slices.SortFunc(snap.Clients, func(a, b Client) int {
			return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Address, b.Address))
		})
		snap.Totals.Clients = len(snap.Clients)
	}
	return snap
}

// millis converts d to milliseconds.
func millis(d time.Duration) float64 {
	return float64(d) / 1e6
}
