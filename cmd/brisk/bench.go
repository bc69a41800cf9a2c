package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/cmd/brisk/internal/loadgen"
)

// benchFlags are brisk bench's own flags.
type benchFlags struct {
	conn          connFlags
	concurrency   int
	connections   int
	duration      time.Duration
	count         int64
	rate          float64
	warmup        time.Duration
	codec         string
	meta          []string
	timeout       time.Duration
	json          bool
	chart         string
	noProgress    bool
	forceProgress bool
}

// defaultBenchDuration is how long brisk bench runs when given neither -n nor -d.
const defaultBenchDuration = 10 * time.Second

// newBenchCmd builds "brisk bench ADDR Service.Method '{json}'", the load generator.
func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench ADDR Service.Method [JSON | -]",
		Short: "Load-test a method: throughput, latency percentiles, errors, a chart",
		Long: `Load-test a method: call it from many workers over one or more connections, for a number
of calls (-n) or a time (-d, 10s when neither is given), and report throughput, an HDR
latency histogram (p50, p90, p99, p99.9, max) and errors by kind, as text or --json, with
an optional latency chart (--chart out.png or out.html).

Without --rate every worker sends its next call as soon as the last one ends. With --rate
the calls are due on a fixed timeline (call i at start + i/rate, whichever worker is free)
and each call's latency counts from the time it was due, so when the server falls behind,
the time calls waited is counted (no coordinated omission). Give enough workers (-c) for
the rate: each has one call in flight.

The arguments are encoded once (--codec json or msgpack, or raw bytes) and sent with every
call. Workers are spread evenly over --connections connections (each an XClient over the
registry's servers for a registry URL). One call is made before the run, not counted, so an
unknown service or method fails at once.

Exit codes: 0 every call succeeded, 1 some calls failed with a service error, 2 some
failed with a transport error or timeout (or the run was interrupted), 3 bad usage. The
report is printed in every case.`,
		Example: `  brisk bench localhost:8972 Arith.Mul '{"A":2,"B":3}' -n 100000 -c 50 --connections 4
  brisk bench localhost:8972 Arith.Mul '{"A":2,"B":3}' -d 30s --rate 20000 -c 200 --chart latency.html
  brisk bench localhost:8972 Arith.Mul '{"A":2,"B":3}' -n 500 -c 8 --json | jq .latency_ms.p99`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, args, &f)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&f.concurrency, "concurrency", "c", 10, "number of workers, each with one call in flight")
	fs.IntVar(&f.connections, "connections", 1, "number of connections the workers are spread over")
	fs.DurationVarP(&f.duration, "duration", "d", 0, "how long to run (default 10s when -n is not given)")
	fs.Int64VarP(&f.count, "count", "n", 0, "exact number of calls to make")
	fs.Float64Var(&f.rate, "rate", 0, "fixed rate in calls per second, latency counted from each call's intended send time (0: as fast as possible)")
	fs.DurationVar(&f.warmup, "warmup", 0, "load to apply before measuring, not counted")
	fs.StringVar(&f.codec, "codec", "json", "payload codec: "+codecNames)
	fs.StringArrayVarP(&f.meta, "meta", "m", nil, "request metadata `key=value` (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound on each call (0: none)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.StringVar(&f.chart, "chart", "", "write a latency chart to `file` (.png, .svg or .html)")
	fs.BoolVar(&f.noProgress, "no-progress", false, "never draw the progress bar")
	fs.BoolVar(&f.forceProgress, "progress", false, "draw the progress bar on stderr even when it is not a terminal")
	f.conn.register(fs)
	return cmd
}

// runBench is the bench command's body.
func runBench(cmd *cobra.Command, args []string, f *benchFlags) error {
	addr := args[0]
	service, method, err := splitServiceMethod(args[1])
	if err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	if f.chart != "" {
		if _, err := loadgen.ChartFormat(f.chart); err != nil {
			return usageErrorf("--chart: %s", strings.TrimPrefix(err.Error(), "loadgen: "))
		}
	}
	st, md, payload, err := request(cmd, args[2:], f.codec, f.meta)
	if err != nil {
		return err
	}

	ctx := cmd.Context()
	callers := make([]caller, 0, f.connections)
	defer func() {
		for _, c := range callers {
			_ = c.Close()
		}
	}()
	for range f.connections {
		c, err := openTarget(ctx, addr, service, f.conn)
		if err != nil {
			return classify(err)
		}
		callers = append(callers, c)
	}

	var transportErrs atomic.Int64
	call := func(ctx context.Context, c caller) error {
		if f.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, f.timeout)
			defer cancel()
		}
		_, _, err := c.Invoke(ctx, method, payload, st, md)
		if err != nil && !client.IsServiceError(err) && ctx.Err() == nil {
			transportErrs.Add(1)
		}
		return err
	}
	// One call first, not counted: an unknown service or method, or arguments the method
	// cannot decode, should not take a whole run to show.
	if err := call(ctx, callers[0]); err != nil && client.IsNotFound(err) {
		return classify(fmt.Errorf("%s.%s: %w", service, method, err))
	}
	transportErrs.Store(0)

	do := func(ctx context.Context) error {
		return call(ctx, callers[loadgen.Worker(ctx)%len(callers)])
	}
	if f.forceProgress || (!f.noProgress && isTerminal(cmd.ErrOrStderr())) {
		opts.Progress = cmd.ErrOrStderr()
	}
	res, runErr := loadgen.Run(ctx, do, opts)
	if res == nil {
		return usageErrorf("%s", strings.TrimPrefix(runErr.Error(), "loadgen: "))
	}

	title := addr + " " + service + "." + method
	if err := f.writeReport(cmd.OutOrStdout(), res, addr, service+"."+method); err != nil {
		return err
	}
	if f.chart != "" {
		if err := loadgen.SaveChart(f.chart, res, title); err != nil {
			return withCode(exitUsage, fmt.Errorf("--chart: %w", err))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "chart written to %s\n", f.chart)
	}
	switch {
	case runErr != nil:
		return withCode(exitTransport, fmt.Errorf("interrupted: %w", runErr))
	case res.Errors == 0:
		return nil
	case transportErrs.Load() > 0:
		return withCode(exitTransport, fmt.Errorf("%d of %d calls failed (%d with a transport error or timeout)", res.Errors, res.Requests, transportErrs.Load()))
	}
	return withCode(exitService, fmt.Errorf("%d of %d calls failed with a service error", res.Errors, res.Requests))
}

// options checks the flags and turns them into loadgen options.
func (f *benchFlags) options() (loadgen.Options, error) {
	var o loadgen.Options
	switch {
	case f.concurrency < 1:
		return o, usageErrorf("--concurrency must be at least 1, not %d", f.concurrency)
	case f.connections < 1:
		return o, usageErrorf("--connections must be at least 1, not %d", f.connections)
	case f.connections > f.concurrency:
		return o, usageErrorf("--connections %d is more than --concurrency %d: some connections would carry no calls", f.connections, f.concurrency)
	case f.count < 0:
		return o, usageErrorf("--count must not be negative")
	case f.duration < 0:
		return o, usageErrorf("--duration must not be negative")
	case f.count > 0 && f.duration > 0:
		return o, usageErrorf("give --count or --duration, not both")
	case f.rate < 0:
		return o, usageErrorf("--rate must not be negative")
	case f.warmup < 0:
		return o, usageErrorf("--warmup must not be negative")
	case f.timeout < 0:
		return o, usageErrorf("--timeout must not be negative")
	}
	o = loadgen.Options{Concurrency: f.concurrency, Count: f.count, Duration: f.duration, Rate: f.rate, Warmup: f.warmup}
	if o.Count == 0 && o.Duration == 0 {
		o.Duration = defaultBenchDuration
	}
	return o, nil
}

// writeReport prints the result as text or JSON.
func (f *benchFlags) writeReport(w io.Writer, res *loadgen.Result, addr, method string) error {
	if f.json {
		b, err := benchJSON(res, addr, method, f.codec, f.connections)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	what := fmt.Sprintf("%d calls", res.Requests)
	if f.duration > 0 || f.count == 0 {
		what = fmt.Sprintf("%v", res.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "brisk bench %s %s: %s, %d workers over %d connection(s), codec %s\n\n",
		addr, method, what, f.concurrency, f.connections, strings.ToLower(f.codec))
	return res.WriteText(w)
}

// benchJSON is the JSON report: the target and set-up, then loadgen's result fields, indented.
func benchJSON(res *loadgen.Result, addr, method, codec string, connections int) ([]byte, error) {
	r, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(struct {
		Target      string `json:"target"`
		Method      string `json:"method"`
		Codec       string `json:"codec"`
		Connections int    `json:"connections"`
	}{addr, method, strings.ToLower(codec), connections})
	if err != nil {
		return nil, err
	}
	if len(r) < 2 || r[0] != '{' || head[len(head)-1] != '}' {
		return nil, errors.New("bench: unexpected JSON shape")
	}
	joined := append(head[:len(head)-1:len(head)-1], ',')
	joined = append(joined, r[1:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
