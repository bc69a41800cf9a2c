package dashboard

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/server"
)

func TestBucketBoundsHoldTheirValues(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, 1023, 1024, 1025, 1500, 2047, 2048, 3 * time.Microsecond,
		77 * time.Microsecond, time.Millisecond, 1234567, 20 * time.Millisecond, time.Second, 68 * time.Second} {
		i := bucketOf(d)
		lo, hi := bucketBounds(i)
		if float64(d) < lo || float64(d) >= hi {
			t.Errorf("%v: bucket %d is [%v, %v), which does not hold it", d, i, lo, hi)
		}
		if i > 0 && (hi-lo)/lo > 1.0/subBuckets+1e-9 {
			t.Errorf("%v: bucket %d is %.1f%% wide, want at most %.1f%%", d, i, 100*(hi-lo)/lo, 100.0/subBuckets)
		}
	}
	if got := bucketOf(time.Hour); got != numBuckets-1 {
		t.Errorf("an hour goes to bucket %d, want the last (%d)", got, numBuckets-1)
	}
	// The buckets tile the line: each starts where the previous ends.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		if lo, _ := bucketBounds(i); lo != prevHi {
			t.Fatalf("bucket %d starts at %v, the previous ends at %v", i, lo, prevHi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values func(record func(time.Duration))
		want   [3]time.Duration // p50, p90, p99
	}{
		{"uniform 1..1000 ms", func(rec func(time.Duration)) {
			for i := 1; i <= 1000; i++ {
				rec(time.Duration(i) * time.Millisecond)
			}
		}, [3]time.Duration{500 * time.Millisecond, 900 * time.Millisecond, 990 * time.Millisecond}},
		{"one value", func(rec func(time.Duration)) { rec(3 * time.Millisecond) },
			[3]time.Duration{3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond}},
		{"a slow tail", func(rec func(time.Duration)) {
			for i := 0; i < 980; i++ {
				rec(100 * time.Microsecond)
			}
			for i := 0; i < 20; i++ {
				rec(2 * time.Second)
			}
		}, [3]time.Duration{100 * time.Microsecond, 100 * time.Microsecond, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			tt.values(h.record)
			got := h.quantiles(0.5, 0.9, 0.99)
			for i, q := range []string{"p50", "p90", "p99"} {
				if rel := math.Abs(float64(got[i]-tt.want[i])) / float64(tt.want[i]); rel > 1.0/subBuckets {
					t.Errorf("%s = %v, want %v within %.1f%%", q, got[i], tt.want[i], 100.0/subBuckets)
				}
			}
			if !(got[0] <= got[1] && got[1] <= got[2]) {
				t.Errorf("percentiles not ordered: %v", got)
			}
		})
	}
	var empty histogram
	if got := empty.quantiles(0.5, 0.99); got[0] != 0 || got[1] != 0 {
		t.Errorf("empty histogram: %v, want zeros", got)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newTestStats returns a Stats on a fake clock that starts on a whole second.
func newTestStats(opts ...StatsOption) (*Stats, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	st := NewStats(opts...)
	st.now = clk.Now
	st.started = clk.Now()
	return st, clk
}

// call runs one call through st's middleware that takes d (on the fake clock) and fails
// with err.
func call(st *Stats, clk *fakeClock, service, method string, d time.Duration, err error) {
	h := st.Middleware()(func(_ context.Context, inv *server.Invocation) error {
		clk.Advance(d)
		return err
	})
	_ = h(context.Background(), &server.Invocation{ServicePath: service, ServiceMethod: method})
}

func TestWindowRateAndErrorRate(t *testing.T) {
	st, clk := newTestStats(WithWindow(10 * time.Second))
	clk.Advance(20 * time.Second) // a full window since start
	// 30 calls in one second, 6 failing, 10 ms each.
	for i := 0; i < 30; i++ {
		var err error
		if i%5 == 0 {
			err = errors.New("boom")
		}
		call(st, clk, "Arith", "Mul", 10*time.Millisecond, err)
	}
	snap := st.Snapshot()
	if len(snap.Methods) != 1 {
		t.Fatalf("methods: %+v", snap.Methods)
	}
	m := snap.Methods[0]
	if m.Calls != 30 || m.Errors != 6 || m.WindowCalls != 30 || m.WindowErrors != 6 {
		t.Errorf("counts %+v, want 30 calls and 6 errors, all in the window", m)
	}
	if m.ErrorRate != 0.2 {
		t.Errorf("error rate %v, want 0.2", m.ErrorRate)
	}
	// The clock moved 300 ms into the current second: the window spans 9.3 s.
	if want := 30 / 9.3; math.Abs(m.Rate-want) > 0.01 {
		t.Errorf("rate %v, want %v", m.Rate, want)
	}
	if m.P50 < 9 || m.P50 > 11.25 || m.P99 < 9 || m.P99 > 11.25 {
		t.Errorf("percentiles %v %v %v, want about 10 ms", m.P50, m.P90, m.P99)
	}
	if m.InFlight != 0 {
		t.Errorf("in flight %d after every call returned", m.InFlight)
	}

	// Past the window, the totals stay and the recent figures are gone.
	clk.Advance(10 * time.Second)
	m = st.Snapshot().Methods[0]
	if m.Calls != 30 || m.Errors != 6 || m.WindowCalls != 0 || m.Rate != 0 || m.ErrorRate != 0 || m.P99 != 0 {
		t.Errorf("after the window: %+v, want totals only", m)
	}
	// A slot reused for a new second starts from zero.
	call(st, clk, "Arith", "Mul", time.Millisecond, nil)
	if m = st.Snapshot().Methods[0]; m.WindowCalls != 1 || m.WindowErrors != 0 {
		t.Errorf("after one more call: %+v, want one call in the window", m)
	}
}

func TestRateRightAfterStart(t *testing.T) {
	st, clk := newTestStats()
	clk.Advance(200 * time.Millisecond)
	for i := 0; i < 10; i++ {
		call(st, clk, "Arith", "Mul", 0, nil)
	}
	// 10 calls in the first 200 ms: 10/s (over at least a second), not 50/s, nor 10
	// spread over the 10 s window.
	if got := st.Snapshot().Methods[0].Rate; math.Abs(got-10) > 0.01 {
		t.Errorf("rate %v, want 10", got)
	}
	clk.Advance(2300 * time.Millisecond)
	for i := 0; i < 10; i++ {
		call(st, clk, "Arith", "Mul", 0, nil)
	}
	// 20 calls in the first 2.5 s.
	if got := st.Snapshot().Methods[0].Rate; math.Abs(got-8) > 0.01 {
		t.Errorf("rate %v, want 8", got)
	}
}

func TestInFlight(t *testing.T) {
	st, clk := newTestStats()
	call(st, clk, "Arith", "Block", 0, nil) // the first call makes the row
	entered, release := make(chan struct{}), make(chan struct{})
	h := st.Middleware()(func(context.Context, *server.Invocation) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h(context.Background(), &server.Invocation{ServicePath: "Arith", ServiceMethod: "Block"})
	}()
	<-entered
	if got := st.Snapshot().Methods[0].InFlight; got != 1 {
		t.Errorf("in flight %d while a call runs, want 1", got)
	}
	close(release)
	<-done
	if got := st.Snapshot().Methods[0].InFlight; got != 0 {
		t.Errorf("in flight %d after it returned, want 0", got)
	}
}

func TestMethodRowsAreBounded(t *testing.T) {
	st, clk := newTestStats(WithMaxMethods(2))
	for _, m := range []string{"A", "B", "C", "D", "A"} {
		call(st, clk, "Svc", m, 0, nil)
	}
	for i := 0; i < 3; i++ {
		call(st, clk, "Svc", "Missing", 0, server.ErrUnknownMethod)
	}
	call(st, clk, "_brisk.Reflection", "List", 0, nil) // built-ins are not counted
	got := map[string]uint64{}
	for _, m := range st.Snapshot().Methods {
		got[m.Service+"."+m.Method] = m.Calls
	}
	want := map[string]uint64{"Svc.A": 2, "Svc.B": 1, OtherService + ".": 2, NotFoundService + ".": 3}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d calls, want %d (rows %v)", k, got[k], v, got)
		}
	}
}

// BenchmarkRecord measures the middleware's cost per call, with callers spread over 8
// methods and running in parallel.
func BenchmarkRecord(b *testing.B) {
	st := NewStats()
	h := st.Middleware()(func(context.Context, *server.Invocation) error { return nil })
	methods := []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	for _, m := range methods {
		_ = h(context.Background(), &server.Invocation{ServicePath: "Svc", ServiceMethod: m})
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		inv := &server.Invocation{ServicePath: "Svc", ServiceMethod: methods[int(n.Add(1))%len(methods)]}
		for pb.Next() {
			_ = h(context.Background(), inv)
		}
	})
}
