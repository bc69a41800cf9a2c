package limiter_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/plugin/limiter"
	"github.com/brisk-rpc/brisk/server"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const ms = time.Millisecond

func TestUpdateRule(t *testing.T) {
	// Smoothing 0.5, Tolerance 1 and a constant Headroom of 2 keep the arithmetic exact.
	cfg := limiter.Config{
		InitialLimit: 10, MinLimit: 2, MaxLimit: 14, Smoothing: 0.5, Tolerance: 1,
		Headroom: func(float64) float64 { return 2 }, ProbeInterval: -1, Now: newClock().Now,
	}
	g := limiter.NewGradient(cfg)
	steps := []struct {
		name     string
		rtt      time.Duration
		inflight int
		limit    float64 // after the sample
		baseline time.Duration
	}{
		// gradient 1: target 10+2, limit (10+12)/2
		{"first sample sets the baseline", 10 * ms, 10, 11, 10 * ms},
		// rtt twice the baseline: gradient 0.5, target 11*0.5+2 = 7.5, limit (11+7.5)/2
		{"queueing lowers the limit", 20 * ms, 11, 9.25, 10 * ms},
		// gradient clamped at 0.5: target 9.25*0.5+2 = 6.625, limit 7.9375
		{"the gradient is at least 0.5", 100 * ms, 9, 7.9375, 10 * ms},
		// a faster sample is the new baseline; gradient 1: target 9.9375, limit 8.9375
		{"a faster sample lowers the baseline", 5 * ms, 8, 8.9375, 5 * ms},
		// inflight 4 < 8.9375/2: no growth
		{"not busy: no growth", 5 * ms, 4, 8.9375, 5 * ms},
		// ... but queueing still lowers it: gradient 0.5, target 6.46875, limit 7.703125
		{"not busy: still lowers", 10 * ms, 4, 7.703125, 5 * ms},
		// rtt within tolerance 1 of 5 ms: no; 6 ms: gradient 5/6
		{"gradient is baseline/rtt", 6 * ms, 8, 7.703125*0.5 + 0.5*(7.703125*5/6+2), 5 * ms},
	}
	for _, s := range steps {
		g.Update(s.rtt, s.inflight)
		if got := g.Estimate(); math.Abs(got-s.limit) > 1e-9 || g.Baseline() != s.baseline {
			t.Fatalf("%s: limit %v, baseline %v; want %v, %v", s.name, got, g.Baseline(), s.limit, s.baseline)
		}
		if g.Limit() != int(s.limit) {
			t.Fatalf("%s: Limit() %d, want %d", s.name, g.Limit(), int(s.limit))
		}
	}
	for range 50 {
		g.Update(5*ms, 14)
	}
	if g.Estimate() != 14 {
		t.Fatalf("growth stops at MaxLimit: %v", g.Estimate())
	}
	// Any slow sample halves the target at most: the limit falls towards 0.5×L + 2 = L,
	// 4, not to MinLimit.
	for range 200 {
		g.Update(time.Second, 14)
	}
	if math.Abs(g.Estimate()-4) > 1e-6 {
		t.Fatalf("decline under slow samples: %v, want 4", g.Estimate())
	}
	low := limiter.NewGradient(limiter.Config{InitialLimit: 3, MinLimit: 3, Smoothing: 1, ProbeInterval: -1,
		Headroom: func(float64) float64 { return 0.1 }})
	low.Update(10*ms, 3)
	low.Update(time.Second, 3)
	if low.Estimate() != 3 {
		t.Fatalf("decline stops at MinLimit: %v, want 3", low.Estimate())
	}
}

func TestDefaults(t *testing.T) {
	g := limiter.NewGradient(limiter.Config{})
	if g.Limit() != limiter.DefaultInitialLimit {
		t.Fatalf("initial limit %d", g.Limit())
	}
	// With no queueing the limit grows by Smoothing × √limit per sample.
	g.Update(10*ms, 20)
	if want := 20 + limiter.DefaultSmoothing*math.Sqrt(20); math.Abs(g.Estimate()-want) > 1e-9 {
		t.Fatalf("after one fast sample: %v, want %v", g.Estimate(), want)
	}
}

// model is a server of capacity c and service time s: n requests at once take
// s × max(1, n/c) each.
func model(c int, s time.Duration, n int) time.Duration {
	return time.Duration(float64(s) * max(1, float64(n)/float64(c)))
}

// fixpoint solves limit = tol×c + √limit.
func fixpoint(tol float64, c int) float64 {
	r := (1 + math.Sqrt(1+4*tol*float64(c))) / 2 // √limit
	return r * r
}

func TestConvergesToCapacity(t *testing.T) {
	tests := []struct {
		capacity, initial int
	}{
		{4, 20}, {4, 1}, {4, 500}, {16, 20}, {100, 20}, {100, 1000},
	}
	for _, tt := range tests {
		g := limiter.NewGradient(limiter.Config{InitialLimit: tt.initial, ProbeInterval: -1, Now: newClock().Now})
		// The first requests find an idle server.
		g.Update(model(tt.capacity, 10*ms, 1), 1)
		for range 1000 {
			n := g.Limit() // saturated: as many in flight as allowed
			g.Update(model(tt.capacity, 10*ms, n), n)
		}
		want := fixpoint(limiter.DefaultTolerance, tt.capacity)
		if got := g.Estimate(); math.Abs(got-want) > 1.5 {
			t.Errorf("capacity %d from %d: limit %.2f, want %.2f ± 1.5", tt.capacity, tt.initial, got, want)
		}
	}
}

func TestProbeRelearnsBaseline(t *testing.T) {
	clk := newClock()
	g := limiter.NewGradient(limiter.Config{ProbeInterval: 10 * time.Second, Now: clk.Now, MinLimit: 2})
	run := func(s time.Duration, samples int) {
		for range samples {
			n := g.Limit()
			g.Update(model(4, s, n), n)
		}
	}
	g.Update(10*ms, 1)
	run(10*ms, 300)
	fast := g.Estimate()
	// The server gets twice as slow for good: against the old baseline, every sample looks
	// queued, and the limit falls well below what capacity 4 warrants.
	run(20*ms, 300)
	if slowed := g.Estimate(); slowed > fast/2+1 {
		t.Fatalf("limit %.2f after slowing down, want about half of %.2f", slowed, fast)
	}
	old := int(math.Ceil(g.Estimate()))
	clk.Advance(10 * time.Second)
	g.Update(20*ms, old)
	if !g.Probing() || g.Limit() != 2 || g.Baseline() != 0 {
		t.Fatalf("probe: probing %v, limit %d, baseline %v; want true, MinLimit 2, 0", g.Probing(), g.Limit(), g.Baseline())
	}
	for i := range 2 * old {
		if !g.Probing() || g.Limit() != 2 {
			t.Fatalf("probe sample %d: probing %v, limit %d", i, g.Probing(), g.Limit())
		}
		g.Update(model(4, 20*ms, 2), 2)
	}
	if g.Probing() || g.Baseline() != 20*ms {
		t.Fatalf("after the probe: probing %v, baseline %v; want false, 20ms", g.Probing(), g.Baseline())
	}
	run(20*ms, 300)
	if got := g.Estimate(); math.Abs(got-fast) > 0.5 {
		t.Fatalf("limit %.2f after the probe, want back near %.2f", got, fast)
	}
}

func TestAcquire(t *testing.T) {
	clk := newClock()
	var told []int
	l := limiter.New(limiter.Config{InitialLimit: 3, ProbeInterval: -1, Now: clk.Now,
		OnLimit: func(n int) { told = append(told, n) }})
	var dones []func(error)
	for range 3 {
		done, err := l.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	if _, err := l.Acquire(); !errors.Is(err, limiter.ErrLimited) || !errors.Is(err, server.ErrOverloaded) {
		t.Fatalf("4th Acquire at limit 3: %v, want ErrLimited wrapping server.ErrOverloaded", err)
	}
	if l.InFlight() != 3 || l.Shed() != 1 {
		t.Fatalf("InFlight %d, Shed %d; want 3, 1", l.InFlight(), l.Shed())
	}
	// Refused by an inner middleware, or cancelled by the caller: no sample.
	dones[0](server.ErrRateLimited)
	dones[1](context.Canceled)
	if l.Algorithm().Baseline() != 0 || l.Limit() != 3 {
		t.Fatalf("ignored samples changed the algorithm: baseline %v, limit %d", l.Algorithm().Baseline(), l.Limit())
	}
	clk.Advance(10 * ms)
	dones[2](errors.New("a service error is a sample"))
	if l.Algorithm().Baseline() != 10*ms || l.InFlight() != 0 {
		t.Fatalf("baseline %v, in flight %d; want 10ms, 0", l.Algorithm().Baseline(), l.InFlight())
	}
	// 3 + 0.2×√3 = 3.35: still 3, so OnLimit was not told; growing to 4 tells it once.
	for l.Limit() < 4 {
		var ds []func(error)
		for range l.Limit() {
			d, err := l.Acquire()
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		clk.Advance(10 * ms)
		for _, d := range ds {
			d(nil)
		}
	}
	if len(told) != 1 || told[0] != 4 {
		t.Fatalf("OnLimit told %v, want [4]", told)
	}
}
