package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/bench"
)

// streamFlags are the flags of -mode stream.
type streamFlags struct {
	bytes, chunks, concurrency, transports string
	timeout                                time.Duration
}

func (f *streamFlags) register() {
	flag.StringVar(&f.bytes, "stream-bytes", "512MiB", "bytes each scenario transfers, split evenly over its streams (suffix KiB, MiB or GiB)")
	flag.StringVar(&f.chunks, "stream-chunks", "16KiB,64KiB", "comma-separated chunk sizes: bytes per Write / Send")
	flag.StringVar(&f.concurrency, "stream-concurrency", "1,4", "comma-separated numbers of streams at once (brisk and grpc: on ONE connection; tcp: that many connections)")
	flag.StringVar(&f.transports, "stream-transports", "tcp,brisk-up,brisk-down,grpc-up,grpc-down",
		"comma-separated stream transports: tcp, brisk-up, brisk-down, grpc-up, grpc-down")
	flag.DurationVar(&f.timeout, "stream-timeout", 2*time.Minute, "give up on one stream scenario after this long")
}

// parse returns the loads, chunk size major, then concurrency, and the transports.
func (f *streamFlags) parse() ([]bench.StreamLoad, []bench.StreamTransport, error) {
	total, err := parseSize(f.bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("-stream-bytes: %w", err)
	}
	var chunks []int64
	for _, s := range splitList(f.chunks) {
		c, err := parseSize(s)
		if err != nil {
			return nil, nil, fmt.Errorf("-stream-chunks: %w", err)
		}
		chunks = append(chunks, c)
	}
	var ks []int
	for _, s := range splitList(f.concurrency) {
		k, err := strconv.Atoi(s)
		if err != nil || k < 1 {
			return nil, nil, fmt.Errorf("-stream-concurrency: bad number of streams %q", s)
		}
		ks = append(ks, k)
	}
	if len(chunks) == 0 || len(ks) == 0 {
		return nil, nil, fmt.Errorf("need at least one chunk size and one concurrency")
	}
	ts, err := bench.LookupStreams(f.transports)
	if err != nil {
		return nil, nil, err
	}
	var loads []bench.StreamLoad
	for _, c := range chunks {
		for _, k := range ks {
			per := total / int64(k)
			if per < 1 {
				return nil, nil, fmt.Errorf("-stream-bytes %s is less than a byte per stream", f.bytes)
			}
			loads = append(loads, bench.StreamLoad{Total: per, Chunk: int(c), Streams: k, Timeout: f.timeout})
		}
	}
	return loads, ts, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSize reads a positive byte count: digits with an optional suffix B, KiB, MiB, GiB
// (K, M, G are the same binary units).
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// streamMain runs every transport under every load, prints the table to w, and reports
// whether a scenario failed.
func streamMain(w io.Writer, loads []bench.StreamLoad, ts []bench.StreamTransport) bool {
	fmt.Fprintln(w, "rpcbench streams: one-way bulk transfer, sender and receiver in ONE process, over loopback TCP (127.0.0.1)")
	fmt.Fprintf(w, "go %s %s/%s, GOMAXPROCS=%d, NumCPU=%d; %s per scenario, split evenly over its streams; MB/s = 10^6 bytes/s counted by the receiver, all streams together\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), fmtSize(loads[0].Total*int64(loads[0].Streams)))
	for _, t := range ts {
		fmt.Fprintf(w, "  %-10s %s\n", t.Name, t.Description)
	}
	fmt.Fprintln(w, "time: first byte sent to the receiver's end of the last stream (set-up not counted); alloc: runtime.MemStats delta, both sides, per MB moved")

	var results []*bench.StreamResult
	failed := false
	for _, l := range loads {
		for _, t := range ts {
			fmt.Fprintf(os.Stderr, "running %s chunk %s x%d ...\n", t.Name, fmtSize(int64(l.Chunk)), l.Streams)
			r, err := bench.RunStream(t, l)
			if err != nil {
				fmt.Fprintf(os.Stderr, "rpcbench: %v\n", err)
				failed = true
				continue
			}
			results = append(results, r)
		}
	}
	fmt.Fprintln(w)
	printStreamTable(w, results)
	return failed
}

func printStreamTable(w io.Writer, results []*bench.StreamResult) {
	tcp := func(l bench.StreamLoad) *bench.StreamResult {
		for _, r := range results {
			if r.Transport == "tcp" && r.Load.Chunk == l.Chunk && r.Load.Streams == l.Streams {
				return r
			}
		}
		return nil
	}
	const row = "%-10s %6s %7s %9s %8s %8s %11s %10s\n"
	fmt.Fprintf(w, row, "transport", "chunk", "streams", "MB/s", "vs tcp", "time", "alloc B/MB", "allocs/MB")
	for _, r := range results {
		ratio := "-"
		if t := tcp(r.Load); t != nil && t.MBps() > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*r.MBps()/t.MBps())
		}
		fmt.Fprintf(w, row, r.Transport, fmtSize(int64(r.Load.Chunk)), strconv.Itoa(r.Load.Streams),
			fmt.Sprintf("%.0f", r.MBps()), ratio, fmtDur(r.Elapsed),
			fmt.Sprintf("%.0f", r.AllocBytesPerMB()), fmt.Sprintf("%.1f", r.MallocsPerMB()))
	}
}

// exitHooks run before the process exits (the CPU profile's stop).
var exitHooks []func()

func exit(code int) {
	for _, h := range exitHooks {
		h()
	}
	os.Exit(code)
}

// startCPUProfile profiles the process into path until the returned stop (or exit) runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	done := false
	stop := func() {
		if done {
			return
		}
		done = true
		pprof.StopCPUProfile()
		_ = f.Close()
	}
	exitHooks = append(exitHooks, stop)
	return stop, nil
}

// writeAllocProfile writes the allocation profile (every allocation since the start) to path.
func writeAllocProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rpcbench: memprofile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "rpcbench: memprofile:", err)
	}
}
