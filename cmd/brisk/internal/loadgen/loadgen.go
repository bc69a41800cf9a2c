// Package loadgen is a load generator: it calls a function from many goroutines, for a
// fixed number of calls or a fixed time, as fast as it can or at a fixed rate, and reports
// throughput, an HDR latency histogram (p50, p90, p99, p99.9, max), errors by kind and a
// timeline, as text, as JSON or as a chart (PNG or HTML).
//
// It knows nothing about RPC: the call is any Func. brisk's "brisk bench" command builds
// a Func that makes one raw call over one of several connections.
//
// # Fixed rate and coordinated omission
//
// With Options.Rate set, calls are scheduled on a fixed timeline: call i is due at
// start + i/Rate, whichever worker takes it. A call's latency is measured from the time it
// was due, not from the time a worker got round to sending it, so when the workers fall
// behind (the service is slower than the rate allows) the time a call waited for a free
// worker counts in its latency. This avoids coordinated omission: a stall of the service
// shows up in every call that should have been sent during it, not only in the one that
// was in flight. Without Rate each worker sends its next call as soon as the last one
// ends and latency is the call's own duration.
//
// # Recording
//
// Each worker records into its own histogram and error table, merged once at the end, so
// there is no shared lock per call. Progress and the timeline read a few atomic counters.
// A histogram tracks 1ns to 1h at three significant digits (about 256 KiB per worker);
// longer latencies are recorded as 1h.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Func is the work measured: one call. A non-nil error counts as a failed call; its text
// (Error()) is its kind. ctx carries the worker's index (see Worker) and ends when Run's
// context ends.
type Func func(ctx context.Context) error

// Options say how much load Run generates. Exactly one of Count and Duration must be set.
type Options struct {
	// Concurrency is the number of workers calling the Func at once (default 1).
	Concurrency int
	// Count is the exact number of calls to make (after the warm-up).
	Count int64
	// Duration is how long to make calls (after the warm-up). Calls in flight when it
	// ends are waited for and counted.
	Duration time.Duration
	// Rate, when positive, is the number of calls per second, scheduled on a fixed
	// timeline with latency measured from each call's intended send time (see the
	// package documentation). Zero means as fast as the workers go.
	Rate float64
	// Warmup is a period of load, at the same concurrency and rate, before measuring
	// starts; its calls are neither counted nor recorded.
	Warmup time.Duration
	// MaxErrorKinds is how many distinct error texts are reported, in the order first
	// seen (default 10); the rest are counted in Result.OtherErrors.
	MaxErrorKinds int
	// Progress, when not nil, receives a progress bar (see Progress).
	Progress io.Writer
	// SampleInterval is the starting interval of Result.Timeline (default: Duration/200,
	// at least 100ms, or 100ms with Count). The interval doubles whenever the timeline
	// would exceed 400 points, so its size stays bounded however long the run.
	SampleInterval time.Duration
}

// Latency limits of the histogram.
const (
	minLatency  = 1                // ns
	maxLatency  = int64(time.Hour) // larger values are recorded as this
	sigFigs     = 3                // significant decimal digits
	maxSamples  = 400              // timeline points before the interval doubles
	defaultTick = 100 * time.Millisecond
)

type workerKey struct{}

// Worker returns the index (0 to Concurrency-1) of the worker a Func's ctx belongs to, or
// -1 for a context that did not come from Run. Use it to spread workers over resources,
// such as worker % connections.
func Worker(ctx context.Context) int {
	if i, ok := ctx.Value(workerKey{}).(int); ok {
		return i
	}
	return -1
}

// Run makes calls to do as opts say and returns what it measured. If ctx ends first, Run
// stops sending, waits for the calls in flight, and returns the partial result
// (Interrupted set) together with ctx's error; failures of calls cut short by ctx's end
// are not counted. Bad options give an error and no result.
func Run(ctx context.Context, do Func, opts Options) (*Result, error) {
	if err := opts.validate(do); err != nil {
		return nil, err
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	if opts.MaxErrorKinds == 0 {
		opts.MaxErrorKinds = 10
	}
	if opts.Warmup > 0 {
		warm := &phase{do: do, opts: opts, duration: opts.Warmup}
		warm.run(ctx, false)
		if err := ctx.Err(); err != nil {
			res := &Result{Concurrency: opts.Concurrency, Rate: opts.Rate, Warmup: opts.Warmup, Interrupted: true}
			res.Latency.hist = newHistogram()
			return res, err
		}
	}
	p := &phase{do: do, opts: opts, count: opts.Count, duration: opts.Duration}
	res := p.run(ctx, true)
	if err := ctx.Err(); err != nil {
		res.Interrupted = true
		return res, err
	}
	return res, nil
}

func (o *Options) validate(do Func) error {
	switch {
	case do == nil:
		return errors.New("loadgen: no function to call")
	case o.Concurrency < 0:
		return fmt.Errorf("loadgen: concurrency %d is negative", o.Concurrency)
	case o.Count < 0:
		return fmt.Errorf("loadgen: count %d is negative", o.Count)
	case o.Duration < 0:
		return fmt.Errorf("loadgen: duration %v is negative", o.Duration)
	case o.Count == 0 && o.Duration == 0:
		return errors.New("loadgen: give a count or a duration")
	case o.Count > 0 && o.Duration > 0:
		return errors.New("loadgen: give a count or a duration, not both")
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("loadgen: rate %v is not a positive number", o.Rate)
	case o.Rate > 0 && 1e9/o.Rate < 1:
		return fmt.Errorf("loadgen: rate %v is above one call per nanosecond", o.Rate)
	case o.Warmup < 0:
		return fmt.Errorf("loadgen: warm-up %v is negative", o.Warmup)
	case o.MaxErrorKinds < 0:
		return fmt.Errorf("loadgen: max error kinds %d is negative", o.MaxErrorKinds)
	case o.SampleInterval < 0:
		return fmt.Errorf("loadgen: sample interval %v is negative", o.SampleInterval)
	}
	return nil
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatency, maxLatency, sigFigs)
}

// phase is one run of the workers: the warm-up or the measured run.
type phase struct {
	do       Func
	opts     Options
	count    int64         // calls to make, or 0
	duration time.Duration // time to make calls for, or 0

	start time.Time
	end   time.Time // start + duration, when duration is set

	next    atomic.Int64 // slots claimed
	calls   atomic.Int64 // calls ended and recorded
	failed  atomic.Int64 // of which failed
	latency atomic.Int64 // sum of recorded latencies, ns
}

// worker is one worker's private record.
type worker struct {
	hist   *hdrhistogram.Histogram
	kinds  map[string]*ErrorKind
	order  []*ErrorKind // kinds in the order first seen
	other  int64
	calls  int64
	failed int64
}

func (p *phase) run(ctx context.Context, record bool) *Result {
	n := p.opts.Concurrency
	workers := make([]*worker, n)
	p.start = time.Now()
	if p.duration > 0 {
		p.end = p.start.Add(p.duration)
	}
	var wg sync.WaitGroup
	for i := range n {
		w := &worker{kinds: make(map[string]*ErrorKind)}
		if record {
			w.hist = newHistogram()
		}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(context.WithValue(ctx, workerKey{}, i), w, record)
		}()
	}
	stop := make(chan struct{})
	var tl *timeline
	var samplerDone chan struct{}
	if record {
		tl = newTimeline(p)
		samplerDone = make(chan struct{})
		go func() {
			defer close(samplerDone)
			tl.sample(stop)
		}()
	}
	wg.Wait()
	elapsed := time.Since(p.start)
	close(stop)
	if !record {
		return nil
	}
	<-samplerDone
	tl.finish(elapsed)
	return p.result(workers, elapsed, tl)
}

// work is one worker's loop: claim the next slot, wait for its time in rate mode, call.
func (p *phase) work(ctx context.Context, w *worker, record bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for ctx.Err() == nil {
		i := p.next.Add(1) - 1
		if p.count > 0 && i >= p.count {
			return
		}
		var sent time.Time
		if p.opts.Rate > 0 {
			sent = p.start.Add(time.Duration(float64(i) * 1e9 / p.opts.Rate))
			if !p.end.IsZero() && !sent.Before(p.end) {
				return
			}
			if d := time.Until(sent); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		} else {
			sent = time.Now()
			if !p.end.IsZero() && !sent.Before(p.end) {
				return
			}
		}
		err := p.do(ctx)
		lat := time.Since(sent)
		if err != nil && ctx.Err() != nil {
			return // cut short by the end of the run's context: not the service's doing
		}
		if !record {
			continue
		}
		w.record(lat, err, p.opts.MaxErrorKinds)
		if err != nil {
			p.failed.Add(1)
		}
		p.latency.Add(int64(lat))
		p.calls.Add(1)
	}
}

func (w *worker) record(lat time.Duration, err error, maxKinds int) {
	v := int64(lat)
	if v < minLatency {
		v = minLatency
	}
	if v > maxLatency {
		v = maxLatency
	}
	_ = w.hist.RecordValue(v) // cannot fail: v is within the histogram's range
	w.calls++
	if err == nil {
		return
	}
	w.failed++
	text := err.Error()
	if k := w.kinds[text]; k != nil {
		k.Count++
		return
	}
	if len(w.order) >= maxKinds {
		w.other++
		return
	}
	k := &ErrorKind{Error: text, Count: 1, first: time.Now()}
	w.kinds[text] = k
	w.order = append(w.order, k)
}

// result merges the workers' records.
func (p *phase) result(workers []*worker, elapsed time.Duration, tl *timeline) *Result {
	res := &Result{
		Concurrency: p.opts.Concurrency,
		Rate:        p.opts.Rate,
		Warmup:      p.opts.Warmup,
		Elapsed:     elapsed,
		Timeline:    tl.points,
	}
	hist := newHistogram()
	merged := make(map[string]*ErrorKind)
	var kinds []*ErrorKind
	for _, w := range workers {
		hist.Merge(w.hist)
		res.Requests += w.calls
		res.Errors += w.failed
		res.OtherErrors += w.other
		for _, k := range w.order {
			if m := merged[k.Error]; m != nil {
				m.Count += k.Count
				if k.first.Before(m.first) {
					m.first = k.first
				}
				continue
			}
			c := *k
			merged[c.Error] = &c
			kinds = append(kinds, &c)
		}
	}
	sort.SliceStable(kinds, func(i, j int) bool { return kinds[i].first.Before(kinds[j].first) })
	for i, k := range kinds {
		if i >= p.opts.MaxErrorKinds {
			res.OtherErrors += k.Count
			continue
		}
		res.ErrorKinds = append(res.ErrorKinds, *k)
	}
	if elapsed > 0 {
		res.Throughput = float64(res.Requests) / elapsed.Seconds()
	}
	res.Latency = latencyOf(hist)
	return res
}

// timeline samples the phase's counters at an interval that doubles as the run grows.
type timeline struct {
	p        *phase
	interval time.Duration
	points   []Sample
	at       time.Duration // end of the last point, since start
	calls    int64         // counters at the last point
	failed   int64
	latency  int64
}

func newTimeline(p *phase) *timeline {
	iv := p.opts.SampleInterval
	if iv == 0 {
		iv = defaultTick
		if d := p.duration / (maxSamples / 2); d > iv {
			iv = d
		}
	}
	return &timeline{p: p, interval: iv}
}

func (t *timeline) sample(stop <-chan struct{}) {
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	bar := newProgress(t.p)
	defer bar.close()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			t.add(time.Since(t.p.start))
			bar.update()
			if len(t.points) >= maxSamples {
				t.compact()
				ticker.Reset(t.interval)
			}
		}
	}
}

// add appends the point for the interval ending at.
func (t *timeline) add(at time.Duration) {
	calls, failed, latency := t.p.calls.Load(), t.p.failed.Load(), t.p.latency.Load()
	s := Sample{At: at, Span: at - t.at, Requests: calls - t.calls, Errors: failed - t.failed}
	if s.Requests > 0 {
		s.MeanLatency = time.Duration((latency - t.latency) / s.Requests)
	}
	t.points = append(t.points, s)
	t.at, t.calls, t.failed, t.latency = at, calls, failed, latency
}

// finish adds the last, partial interval.
func (t *timeline) finish(elapsed time.Duration) {
	if elapsed > t.at {
		t.add(elapsed)
	}
}

// compact merges adjacent points and doubles the interval.
func (t *timeline) compact() {
	out := t.points[:0]
	for i := 0; i < len(t.points); i += 2 {
		s := t.points[i]
		if i+1 < len(t.points) {
			s = s.merge(t.points[i+1])
		}
		out = append(out, s)
	}
	t.points = out
	t.interval *= 2
}
