package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/cmd/brisk/internal/loadgen"
)

// counter is a Func that counts its calls.
type counter struct{ n atomic.Int64 }

func (c *counter) do(context.Context) error {
	c.n.Add(1)
	return nil
}

func TestCountIsExact(t *testing.T) {
	tests := []struct {
		name        string
		count       int64
		concurrency int
		rate        float64
	}{
		{"one worker", 1000, 1, 0},
		{"eight workers", 1000, 8, 0},
		{"workers not dividing the count", 1000, 33, 0},
		{"more workers than calls", 5, 16, 0},
		{"fixed rate", 300, 4, 50000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c counter
			res, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Count: tt.count, Concurrency: tt.concurrency, Rate: tt.rate})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.n.Load(); got != tt.count {
				t.Errorf("Func called %d times, want %d", got, tt.count)
			}
			if res.Requests != tt.count || res.Errors != 0 || res.Latency.Count() != tt.count {
				t.Errorf("result: %d requests, %d errors, %d latencies; want %d, 0, %d", res.Requests, res.Errors, res.Latency.Count(), tt.count, tt.count)
			}
			var inTimeline int64
			for _, s := range res.Timeline {
				inTimeline += s.Requests
			}
			if inTimeline != tt.count {
				t.Errorf("the timeline holds %d calls, want %d", inTimeline, tt.count)
			}
			if res.Throughput <= 0 || res.Elapsed <= 0 || res.Latency.Max < res.Latency.P50 || res.Latency.P50 < res.Latency.Min {
				t.Errorf("implausible result: %+v", res)
			}
		})
	}
}

func TestDurationRunsAtLeastTheDuration(t *testing.T) {
	var c counter
	const d = 50 * time.Millisecond
	res, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Duration: d, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed < d {
		t.Errorf("elapsed %v, want at least %v", res.Elapsed, d)
	}
	if res.Requests == 0 || res.Requests != c.n.Load() {
		t.Errorf("%d requests recorded, Func called %d times", res.Requests, c.n.Load())
	}
}

// TestFixedRateCountsQueueingDelay drives one worker at 200 calls/s (one due every 5ms)
// with a Func that takes 20ms: the worker falls further behind with every call. Call i
// cannot end before (i+1)*20ms after the start while it was due at i*5ms, so its latency
// measured from its intended send time is at least 15i+20 ms, far above the 20ms service
// time. Measured from the actual send time every call would take about 20ms: that is
// coordinated omission, and the test shows the fixed-rate mode does not suffer from it.
func TestFixedRateCountsQueueingDelay(t *testing.T) {
	const service = 20 * time.Millisecond
	slow := func(ctx context.Context) error {
		time.Sleep(service) // the service time being measured, not synchronisation
		return nil
	}
	res, err := loadgen.Run(context.Background(), slow, loadgen.Options{Count: 20, Concurrency: 1, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 {
		t.Fatalf("%d requests, want 20", res.Requests)
	}
	// The lower bounds of the latency of call 19 (the max) and of call 9 (at or under the median).
	if want := 15*19*time.Millisecond + service; res.Latency.Max < want {
		t.Errorf("max latency %v, want at least %v (queueing delay not counted?)", res.Latency.Max, want)
	}
	if want := 15*9*time.Millisecond + service; res.Latency.P50 < want {
		t.Errorf("p50 latency %v, want at least %v", res.Latency.P50, want)
	}
	if res.Latency.Min < service {
		t.Errorf("min latency %v is below the service time %v", res.Latency.Min, service)
	}
}

// TestFixedRatePaces checks that calls are not sent before they are due: ten calls at 100/s
// are spread over at least 90ms.
func TestFixedRatePaces(t *testing.T) {
	var mu sync.Mutex
	var sent []time.Time
	do := func(ctx context.Context) error {
		mu.Lock()
		sent = append(sent, time.Now())
		mu.Unlock()
		return nil
	}
	start := time.Now()
	res, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 10, Concurrency: 3, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 10 || res.Requests != 10 {
		t.Fatalf("%d calls, %d requests; want 10", len(sent), res.Requests)
	}
	last := sent[0]
	for _, s := range sent {
		if s.After(last) {
			last = s
		}
	}
	if got := last.Sub(start); got < 90*time.Millisecond {
		t.Errorf("the last of 10 calls at 100/s went %v after the start, want at least 90ms", got)
	}
}

func TestErrorsByKind(t *testing.T) {
	// Of 300 calls, numbered from 1: multiples of 3 fail with "three", other multiples of 5
	// with "five", other multiples of 7 with "seven".
	kinds := func() (loadgen.Func, map[string]int64) {
		want := map[string]int64{}
		for i := 1; i <= 300; i++ {
			switch {
			case i%3 == 0:
				want["three"]++
			case i%5 == 0:
				want["five"]++
			case i%7 == 0:
				want["seven"]++
			}
		}
		var n atomic.Int64
		return func(context.Context) error {
			switch i := n.Add(1); {
			case i%3 == 0:
				return errors.New("three")
			case i%5 == 0:
				return errors.New("five")
			case i%7 == 0:
				return fmt.Errorf("seven")
			}
			return nil
		}, want
	}
	var total int64
	_, want := kinds()
	for _, c := range want {
		total += c
	}
	tests := []struct {
		name      string
		maxKinds  int
		wantKinds int
	}{
		{"all kinds", 0, 3},
		{"two kinds", 2, 2},
		{"one kind", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do, want := kinds()
			res, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 300, Concurrency: 4, MaxErrorKinds: tt.maxKinds})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 300 || res.Errors != total {
				t.Fatalf("%d requests, %d errors; want 300, %d", res.Requests, res.Errors, total)
			}
			if len(res.ErrorKinds) != tt.wantKinds {
				t.Fatalf("%d error kinds %v, want %d", len(res.ErrorKinds), res.ErrorKinds, tt.wantKinds)
			}
			sum := res.OtherErrors
			for _, k := range res.ErrorKinds {
				if tt.maxKinds == 0 && k.Count != want[k.Error] {
					t.Errorf("%q counted %d times, want %d", k.Error, k.Count, want[k.Error])
				}
				sum += k.Count
			}
			if sum != total {
				t.Errorf("kinds and other errors add up to %d, want %d", sum, total)
			}
			var text bytes.Buffer
			if err := res.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "Errors:") || !strings.Contains(text.String(), res.ErrorKinds[0].Error) {
				t.Errorf("text output lacks the errors:\n%s", text.String())
			}
		})
	}
}

func TestJSONShape(t *testing.T) {
	do := func(context.Context) error { return errors.New("nope") }
	res, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 10, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Requests    *int64               `json:"requests"`
		OK          *int64               `json:"ok"`
		Errors      *int64               `json:"errors"`
		Elapsed     *float64             `json:"elapsed_ms"`
		Throughput  *float64             `json:"throughput"`
		Concurrency *int                 `json:"concurrency"`
		Rate        *float64             `json:"rate"`
		Interrupted *bool                `json:"interrupted"`
		Latency     map[string]float64   `json:"latency_ms"`
		ErrorKinds  []map[string]any     `json:"error_kinds"`
		OtherErrors *int64               `json:"other_errors"`
		Timeline    []map[string]float64 `json:"timeline"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if got.Requests == nil || *got.Requests != 10 || got.OK == nil || *got.OK != 0 || got.Errors == nil || *got.Errors != 10 {
		t.Errorf("counts wrong in %s", b)
	}
	if got.Elapsed == nil || *got.Elapsed <= 0 || got.Throughput == nil || got.Concurrency == nil || *got.Concurrency != 2 ||
		got.Rate == nil || got.Interrupted == nil || got.OtherErrors == nil {
		t.Errorf("missing fields in %s", b)
	}
	for _, k := range []string{"min", "mean", "stddev", "p50", "p90", "p99", "p99.9", "max"} {
		if _, ok := got.Latency[k]; !ok {
			t.Errorf("latency_ms lacks %q in %s", k, b)
		}
	}
	if got.Latency["max"] < got.Latency["p50"] || got.Latency["max"] <= 0 {
		t.Errorf("latency_ms implausible in %s", b)
	}
	if len(got.ErrorKinds) != 1 || got.ErrorKinds[0]["error"] != "nope" || got.ErrorKinds[0]["count"] != 10.0 {
		t.Errorf("error_kinds = %v", got.ErrorKinds)
	}
	if len(got.Timeline) == 0 {
		t.Errorf("no timeline in %s", b)
	}
	for _, s := range got.Timeline {
		for _, k := range []string{"at_ms", "requests", "errors", "throughput", "mean_latency_ms"} {
			if _, ok := s[k]; !ok {
				t.Errorf("timeline point lacks %q: %v", k, s)
			}
		}
	}

	// No errors: error_kinds is an empty array, not null.
	var c counter
	res, err = loadgen.Run(context.Background(), c.do, loadgen.Options{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(res)
	if !bytes.Contains(b, []byte(`"error_kinds":[]`)) {
		t.Errorf("error_kinds not an empty array: %s", b)
	}
}

func TestWorkerIndex(t *testing.T) {
	const workers = 5
	var seen [workers]atomic.Int64
	var bad atomic.Int64
	do := func(ctx context.Context) error {
		i := loadgen.Worker(ctx)
		if i < 0 || i >= workers {
			bad.Add(1)
			return nil
		}
		seen[i].Add(1)
		return nil
	}
	if _, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 500, Concurrency: workers}); err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 {
		t.Errorf("%d calls saw a worker index out of range", bad.Load())
	}
	var sum int64
	for i := range seen {
		sum += seen[i].Load()
	}
	if sum != 500 {
		t.Errorf("%d calls seen, want 500", sum)
	}
	if loadgen.Worker(context.Background()) != -1 {
		t.Error("Worker of a foreign context is not -1")
	}
}

func TestWarmupIsNotCounted(t *testing.T) {
	var c counter
	res, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Count: 50, Concurrency: 2, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Latency.Count() != 50 {
		t.Errorf("%d requests and %d latencies recorded, want 50", res.Requests, res.Latency.Count())
	}
	if c.n.Load() <= 50 {
		t.Errorf("Func called %d times: no call during the 100ms warm-up", c.n.Load())
	}
	if res.Warmup != 100*time.Millisecond {
		t.Errorf("Warmup = %v", res.Warmup)
	}
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	do := func(ctx context.Context) error {
		switch i := n.Add(1); {
		case i == 100:
			cancel()
		case i > 100:
			return ctx.Err() // a failure cut short by the cancel: not counted
		}
		return nil
	}
	res, err := loadgen.Run(ctx, do, loadgen.Options{Count: 1 << 40, Concurrency: 4})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || !res.Interrupted {
		t.Fatalf("result %+v, want a partial result marked Interrupted", res)
	}
	if res.Requests < 100 || res.Errors != 0 {
		t.Errorf("%d requests, %d errors; want at least 100 and no errors", res.Requests, res.Errors)
	}
}

func TestBadOptions(t *testing.T) {
	var c counter
	tests := []struct {
		name string
		do   loadgen.Func
		opts loadgen.Options
		want string
	}{
		{"no func", nil, loadgen.Options{Count: 1}, "no function"},
		{"neither count nor duration", c.do, loadgen.Options{}, "count or a duration"},
		{"both count and duration", c.do, loadgen.Options{Count: 1, Duration: time.Second}, "not both"},
		{"negative count", c.do, loadgen.Options{Count: -1}, "negative"},
		{"negative duration", c.do, loadgen.Options{Duration: -time.Second}, "negative"},
		{"negative concurrency", c.do, loadgen.Options{Count: 1, Concurrency: -2}, "negative"},
		{"negative rate", c.do, loadgen.Options{Count: 1, Rate: -1}, "rate"},
		{"absurd rate", c.do, loadgen.Options{Count: 1, Rate: 1e10}, "rate"},
		{"negative warm-up", c.do, loadgen.Options{Count: 1, Warmup: -time.Second}, "warm-up"},
		{"negative error kinds", c.do, loadgen.Options{Count: 1, MaxErrorKinds: -1}, "error kinds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := loadgen.Run(context.Background(), tt.do, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
			if res != nil {
				t.Errorf("a result with bad options: %+v", res)
			}
		})
	}
	if c.n.Load() != 0 {
		t.Errorf("Func called %d times with bad options", c.n.Load())
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	do := func(context.Context) error {
		time.Sleep(time.Millisecond) // some service time, so the bar has something to show
		return nil
	}
	res, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 200, Concurrency: 2, Progress: &buf, SampleInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 {
		t.Fatalf("%d requests", res.Requests)
	}
	if !strings.Contains(buf.String(), "/200") || !strings.Contains(buf.String(), "req") {
		t.Errorf("no progress bar written: %q", buf.String())
	}

	// Without a writer nothing is drawn anywhere (nothing to observe but the absence of a panic
	// and of leaked goroutines, which TestMain checks).
	if _, err := loadgen.Run(context.Background(), do, loadgen.Options{Duration: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

func TestProgressBarDuration(t *testing.T) {
	var buf bytes.Buffer
	var c counter
	if _, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Duration: 30 * time.Millisecond, Progress: &buf, SampleInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), " req, 0 errors") {
		t.Errorf("no progress bar with the call count written: %q", buf.String())
	}
}

func TestTimelineStaysBounded(t *testing.T) {
	var c counter
	// 1ms points over 600ms would be 600 points: the timeline compacts to at most 400.
	res, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Duration: 600 * time.Millisecond, SampleInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Timeline); n == 0 || n > 401 {
		t.Errorf("%d timeline points, want 1 to 401", n)
	}
	var sum int64
	var prev time.Duration
	for _, s := range res.Timeline {
		sum += s.Requests
		if s.At <= prev || s.Span <= 0 {
			t.Fatalf("timeline out of order at %+v (previous end %v)", s, prev)
		}
		prev = s.At
	}
	if sum != res.Requests {
		t.Errorf("the timeline holds %d calls, the result %d", sum, res.Requests)
	}
}

func TestWriteText(t *testing.T) {
	var c counter
	res, err := loadgen.Run(context.Background(), c.do, loadgen.Options{Count: 100, Concurrency: 2, Rate: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Requests:", "100", "(100 ok, 0 errors)", "Throughput:", "fixed rate 100000", "p50", "p90", "p99", "p99.9", "max"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "Errors:") {
		t.Errorf("an Errors section without errors:\n%s", buf.String())
	}
}
