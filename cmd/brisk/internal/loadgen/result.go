package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what Run measured. It marshals to JSON with durations in milliseconds (see
// MarshalJSON).
type Result struct {
	// Requests is the number of calls made and ended, failed or not.
	Requests int64
	// Errors is how many of them failed.
	Errors int64
	// Elapsed is the measured time: from the first call's start (or due time) to the end
	// of the last call.
	Elapsed time.Duration
	// Throughput is Requests per second of Elapsed.
	Throughput float64
	// Latency summarises the latency of every call, failed or not. At a fixed rate it
	// counts from each call's intended send time.
	Latency Latency
	// ErrorKinds are the first Options.MaxErrorKinds distinct error texts, in the order
	// first seen, with their counts.
	ErrorKinds []ErrorKind
	// OtherErrors counts failures whose text is not among ErrorKinds.
	OtherErrors int64
	// Timeline is the run in intervals: calls, errors and mean latency per interval.
	Timeline []Sample
	// Concurrency, Rate and Warmup echo the options.
	Concurrency int
	Rate        float64
	Warmup      time.Duration
	// Interrupted says that Run's context ended before the run was complete.
	Interrupted bool
}

// Latency is a latency distribution's summary.
type Latency struct {
	Min, Mean, StdDev, P50, P90, P99, P999, Max time.Duration

	hist *hdrhistogram.Histogram
}

// Quantile returns the latency at quantile q (0 to 100, such as 99.99).
func (l Latency) Quantile(q float64) time.Duration {
	if l.hist == nil {
		return 0
	}
	return time.Duration(l.hist.ValueAtQuantile(q))
}

// Count is the number of latencies recorded.
func (l Latency) Count() int64 {
	if l.hist == nil {
		return 0
	}
	return l.hist.TotalCount()
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	l := Latency{hist: h}
	if h.TotalCount() == 0 {
		return l
	}
	l.Min = time.Duration(h.Min())
	l.Mean = time.Duration(h.Mean())
	l.StdDev = time.Duration(h.StdDev())
	l.P50 = time.Duration(h.ValueAtQuantile(50))
	l.P90 = time.Duration(h.ValueAtQuantile(90))
	l.P99 = time.Duration(h.ValueAtQuantile(99))
	l.P999 = time.Duration(h.ValueAtQuantile(99.9))
	l.Max = time.Duration(h.Max())
	return l
}

// ErrorKind is one distinct error text and how often it occurred.
type ErrorKind struct {
	Error string `json:"error"`
	Count int64  `json:"count"`

	first time.Time
}

// Sample is one interval of the timeline.
type Sample struct {
	// At is the interval's end, since the start of the measured run.
	At time.Duration
	// Span is the interval's length.
	Span time.Duration
	// Requests and Errors are the calls that ended in the interval.
	Requests, Errors int64
	// MeanLatency is their mean latency.
	MeanLatency time.Duration
}

// Throughput is the interval's calls per second.
func (s Sample) Throughput() float64 {
	if s.Span <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Span.Seconds()
}

func (s Sample) merge(o Sample) Sample {
	m := Sample{At: o.At, Span: s.Span + o.Span, Requests: s.Requests + o.Requests, Errors: s.Errors + o.Errors}
	if m.Requests > 0 {
		m.MeanLatency = time.Duration((int64(s.MeanLatency)*s.Requests + int64(o.MeanLatency)*o.Requests) / m.Requests)
	}
	return m
}

// ms is a duration as float milliseconds in JSON, to the nanosecond.
type ms time.Duration

func (d ms) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(d)/1e6, 'f', -1, 64), nil
}

type jsonLatency struct {
	Min    ms `json:"min"`
	Mean   ms `json:"mean"`
	StdDev ms `json:"stddev"`
	P50    ms `json:"p50"`
	P90    ms `json:"p90"`
	P99    ms `json:"p99"`
	P999   ms `json:"p99.9"`
	Max    ms `json:"max"`
}

type jsonSample struct {
	At          ms      `json:"at_ms"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	Throughput  float64 `json:"throughput"`
	MeanLatency ms      `json:"mean_latency_ms"`
}

type jsonResult struct {
	Requests    int64        `json:"requests"`
	OK          int64        `json:"ok"`
	Errors      int64        `json:"errors"`
	Elapsed     ms           `json:"elapsed_ms"`
	Throughput  float64      `json:"throughput"`
	Concurrency int          `json:"concurrency"`
	Rate        float64      `json:"rate"`
	Warmup      ms           `json:"warmup_ms"`
	Interrupted bool         `json:"interrupted"`
	Latency     jsonLatency  `json:"latency_ms"`
	ErrorKinds  []ErrorKind  `json:"error_kinds"`
	OtherErrors int64        `json:"other_errors"`
	Timeline    []jsonSample `json:"timeline"`
}

// MarshalJSON writes the result as
//
//	{"requests":500,"ok":500,"errors":0,"elapsed_ms":61.2,"throughput":8169.9,
//	 "concurrency":8,"rate":0,"warmup_ms":0,"interrupted":false,
//	 "latency_ms":{"min":0.3,"mean":0.9,"stddev":0.4,"p50":0.8,"p90":1.4,"p99":2.1,"p99.9":2.9,"max":3.1},
//	 "error_kinds":[{"error":"...","count":3}],"other_errors":0,
//	 "timeline":[{"at_ms":100,"requests":812,"errors":0,"throughput":8120,"mean_latency_ms":0.9}]}
//
// with every duration in milliseconds (fractions down to the nanosecond) and throughput in
// calls per second. error_kinds and timeline are arrays, never null.
func (r *Result) MarshalJSON() ([]byte, error) {
	l := r.Latency
	j := jsonResult{
		Requests:    r.Requests,
		OK:          r.Requests - r.Errors,
		Errors:      r.Errors,
		Elapsed:     ms(r.Elapsed),
		Throughput:  r.Throughput,
		Concurrency: r.Concurrency,
		Rate:        r.Rate,
		Warmup:      ms(r.Warmup),
		Interrupted: r.Interrupted,
		Latency: jsonLatency{ms(l.Min), ms(l.Mean), ms(l.StdDev), ms(l.P50), ms(l.P90),
			ms(l.P99), ms(l.P999), ms(l.Max)},
		ErrorKinds:  r.ErrorKinds,
		OtherErrors: r.OtherErrors,
		Timeline:    make([]jsonSample, len(r.Timeline)),
	}
	if j.ErrorKinds == nil {
		j.ErrorKinds = []ErrorKind{}
	}
	for i, s := range r.Timeline {
		j.Timeline[i] = jsonSample{ms(s.At), s.Requests, s.Errors, s.Throughput(), ms(s.MeanLatency)}
	}
	return json.Marshal(j)
}

// WriteText writes the result for people: a summary, the latency percentiles and the
// errors by kind.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Interrupted {
		fmt.Fprintln(tw, "Interrupted: partial results.")
	}
	fmt.Fprintln(tw, "Summary:")
	fmt.Fprintf(tw, "  Requests:\t%d (%d ok, %d errors)\n", r.Requests, r.Requests-r.Errors, r.Errors)
	fmt.Fprintf(tw, "  Elapsed:\t%v\n", roundDuration(r.Elapsed))
	fmt.Fprintf(tw, "  Throughput:\t%.1f req/s\n", r.Throughput)
	mode := "as fast as possible"
	if r.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %g req/s (latency from intended send time)", r.Rate)
	}
	fmt.Fprintf(tw, "  Workers:\t%d, %s\n", r.Concurrency, mode)
	if r.Warmup > 0 {
		fmt.Fprintf(tw, "  Warm-up:\t%v (not counted)\n", r.Warmup)
	}
	fmt.Fprintln(tw, "Latency:")
	l := r.Latency
	for _, row := range []struct {
		name string
		d    time.Duration
	}{{"min", l.Min}, {"mean", l.Mean}, {"stddev", l.StdDev}, {"p50", l.P50}, {"p90", l.P90},
		{"p99", l.P99}, {"p99.9", l.P999}, {"max", l.Max}} {
		fmt.Fprintf(tw, "  %s\t%v\n", row.name, roundDuration(row.d))
	}
	if r.Errors > 0 {
		fmt.Fprintln(tw, "Errors:")
		for _, k := range r.ErrorKinds {
			fmt.Fprintf(tw, "  %d\t%s\n", k.Count, k.Error)
		}
		if r.OtherErrors > 0 {
			fmt.Fprintf(tw, "  %d\t(other errors)\n", r.OtherErrors)
		}
	}
	return tw.Flush()
}

// roundDuration keeps four significant digits.
func roundDuration(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for v := d / 10000; v > 0; v /= 10 {
		unit *= 10
	}
	return d.Round(unit)
}
