package limiter_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/plugin/limiter"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Station is a service of fixed capacity: Work holds one of cap slots for a service time,
// so that beyond cap concurrent calls, calls queue and latency grows with concurrency.
type Station struct {
	slots   chan struct{}
	service time.Duration
	running atomic.Int64 // calls inside Work, waiting for a slot or holding one
	peak    atomic.Int64
	runs    atomic.Int64
}

func newStation(capacity int, service time.Duration) *Station {
	return &Station{slots: make(chan struct{}, capacity), service: service}
}

// Work runs for the service time once it has a slot.
func (s *Station) Work(ctx context.Context, args *testsvc.Args, reply *testsvc.Reply) error {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.runs.Add(1)
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.slots }()
	time.Sleep(s.service) // the work itself
	reply.C = args.A
	return nil
}

func TestLimitConvergesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		capacity = 4
		callers  = 32
		served   = 800 // the load runs until this many calls were served
		service  = 5 * time.Millisecond
	)
	var peakLimit atomic.Int64
	lim := limiter.New(limiter.Config{OnLimit: func(n int) {
		for p := peakLimit.Load(); int64(n) > p && !peakLimit.CompareAndSwap(p, int64(n)); p = peakLimit.Load() {
		}
	}})
	peakLimit.Store(int64(lim.Limit()))
	st := newStation(capacity, service)
	s := server.NewServer(server.WithMiddleware(lim.Middleware()))
	if err := s.RegisterName("Station", st, ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	c := testsvc.Connect(t, addr, client.DefaultOption)

	var ok, shed, calls atomic.Int64
	var mu sync.Mutex
	// The limit after each call served in the second half of the load.
	lateMin, lateMax, lateSum, lateN := 1<<30, 0, 0, 0
	errs := make(chan error, callers)
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for ok.Load() < served {
				var r testsvc.Reply
				err := c.Call(context.Background(), "Station.Work", &testsvc.Args{A: 1}, &r)
				calls.Add(1)
				switch {
				case err == nil:
					if ok.Add(1) > served/2 {
						l := lim.Limit()
						mu.Lock()
						lateMin, lateMax, lateSum, lateN = min(lateMin, l), max(lateMax, l), lateSum+l, lateN+1
						mu.Unlock()
					}
				case client.IsRefused(err) && strings.HasPrefix(err.Error(), protocol.TextOverloaded):
					shed.Add(1)
				default:
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected error: %v", err)
	}
	mean := float64(lateSum) / float64(lateN)
	t.Logf("%d calls in %v: %d served, %d shed; limit %d (second half %d..%d, mean %.1f, peak %d), baseline %v, handler peak concurrency %d",
		calls.Load(), time.Since(start).Round(time.Millisecond), ok.Load(), shed.Load(), lim.Limit(), lateMin, lateMax, mean,
		peakLimit.Load(), lim.Algorithm().Baseline(), st.peak.Load())

	if ok.Load()+shed.Load() != calls.Load() || st.runs.Load() != ok.Load() {
		t.Fatalf("served %d + shed %d != %d calls, or handler ran %d times", ok.Load(), shed.Load(), calls.Load(), st.runs.Load())
	}
	if shed.Load() == 0 || uint64(shed.Load()) != lim.Shed() {
		t.Fatalf("clients saw %d shed calls, the limiter counted %d; want equal and > 0", shed.Load(), lim.Shed())
	}
	// Capacity 4: the limit settles near 1.2×4 + √limit ≈ 7.7 (from 20 at the start).
	// Scheduling noise moves single samples either way, so the mean is held to a narrower
	// range than the extremes.
	if mean < 4 || mean > 11 || lateMin < 3 || lateMax > 16 {
		t.Fatalf("limit over the second half: mean %.1f in %d..%d, want a mean in [4, 11] within [3, 16] (capacity %d)",
			mean, lateMin, lateMax, capacity)
	}
	if p := st.peak.Load(); p > peakLimit.Load() {
		t.Fatalf("the handler saw %d calls at once, more than the highest limit %d", p, peakLimit.Load())
	}
	if lim.InFlight() != 0 {
		t.Fatalf("%d in flight after the load", lim.InFlight())
	}
}
