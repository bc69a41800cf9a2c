// Command rpcbench compares brisk with grpc-go and net/rpc under the same closed-loop load,
// using the message of the rpcx benchmark (581 bytes of protobuf).
//
// Client and server run in one process and talk over loopback TCP; every framework runs in
// the same invocation, so compare them as ratios rather than absolute numbers.
//
//	go run ./cmd/rpcbench -scenarios 100x4,1000x4 -duration 10s -warmup 2s -frameworks brisk,grpc,netrpc
//
// Then (-mode all, the default; -mode stream alone) it measures one-way stream throughput in
// MB/s beside raw TCP's (see stream.go and the -stream-* flags):
//
//	go run ./cmd/rpcbench -mode stream -stream-bytes 512MiB -stream-chunks 16KiB,64KiB -stream-concurrency 1,4
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/brisk-rpc/brisk/bench"
	"github.com/brisk-rpc/brisk/bench/pb"
)

func main() {
	scenarios := flag.String("scenarios", "100x4,1000x4", "comma-separated scenarios, each CALLERSxCONNECTIONS")
	duration := flag.Duration("duration", 10*time.Second, "measured period of each scenario")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured calls before each measured period")
	frameworks := flag.String("frameworks", "brisk,grpc,netrpc", "comma-separated frameworks: brisk, grpc, netrpc")
	mode := flag.String("mode", "all", "what to run: rpc (the Hello.Say table), stream (bulk stream throughput) or all (rpc, then stream)")
	var sf streamFlags
	sf.register()
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file at the end")
	flag.Parse()

	runRPC, runStreams := *mode == "rpc" || *mode == "all", *mode == "stream" || *mode == "all"
	if !runRPC && !runStreams {
		fatal(fmt.Errorf("bad -mode %q: want rpc, stream or all", *mode))
	}
	var streamLoads []bench.StreamLoad
	var transports []bench.StreamTransport
	if runStreams {
		var err error
		if streamLoads, transports, err = sf.parse(); err != nil {
			fatal(err)
		}
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		defer stop()
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 512 // small allocations too (the default samples one per 512 KiB)
		exitHooks = append(exitHooks, func() { writeAllocProfile(*memprofile) })
		defer writeAllocProfile(*memprofile)
	}
	failed := false
	if runRPC {
		failed = rpcMain(*scenarios, *frameworks, *duration, *warmup)
	}
	if runStreams {
		if runRPC {
			fmt.Println()
		}
		failed = streamMain(os.Stdout, streamLoads, transports) || failed
	}
	if failed {
		exit(1)
	}
}

// rpcMain runs the Hello.Say scenarios and prints their table; it reports whether one failed.
func rpcMain(scenarios, frameworks string, duration, warmup time.Duration) bool {
	loads, err := parseScenarios(scenarios, warmup, duration)
	if err != nil {
		fatal(err)
	}
	fws, err := bench.Lookup(frameworks)
	if err != nil {
		fatal(err)
	}

	printSettings(os.Stdout, fws, duration, warmup)

	var results []*bench.Result
	failed := false
	for _, l := range loads {
		for _, f := range fws {
			fmt.Fprintf(os.Stderr, "running %s %dx%d ...\n", f.Name, l.Callers, l.Conns)
			r, err := bench.Run(f, l)
			if err != nil {
				fmt.Fprintf(os.Stderr, "rpcbench: %v\n", err)
				failed = true
				if r == nil {
					continue
				}
			}
			results = append(results, r)
		}
	}

	fmt.Println()
	printTable(os.Stdout, results)
	fmt.Println()
	printAllocs(os.Stdout, results)
	fmt.Println()
	printRatios(os.Stdout, results, fws)
	return failed
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "rpcbench:", err)
	exit(2)
}

func parseScenarios(s string, warmup, duration time.Duration) ([]bench.Load, error) {
	var out []bench.Load
	for _, sc := range strings.Split(s, ",") {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		a, b, ok := strings.Cut(sc, "x")
		callers, err1 := strconv.Atoi(a)
		conns, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || callers < 1 || conns < 1 {
			return nil, fmt.Errorf("bad scenario %q: want CALLERSxCONNECTIONS, both positive", sc)
		}
		out = append(out, bench.Load{Callers: callers, Conns: conns, Warmup: warmup, Duration: duration})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario given")
	}
	return out, nil
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Version + " => " + m.Replace.Path
			}
			return m.Version
		}
	}
	return "unknown"
}

func printSettings(w io.Writer, fws []bench.Framework, duration, warmup time.Duration) {
	size := proto.Size(pb.NewBenchmarkMessage())
	fmt.Fprintln(w, "rpcbench: closed-loop Hello.Say, client and server in ONE process, over loopback TCP (127.0.0.1)")
	fmt.Fprintf(w, "go %s %s/%s, GOMAXPROCS=%d, NumCPU=%d\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(w, "duration %v per scenario after %v warm-up; callers spread round-robin over connections, each calling synchronously\n",
		duration, warmup)
	fmt.Fprintf(w, "message: rpcx BenchmarkMessage, %d bytes as protobuf; reply = args with field1=\"OK\", field2=100 (one alloc to copy)\n", size)
	fmt.Fprintf(w, "protobuf library: google.golang.org/protobuf %s; grpc-go %s\n",
		moduleVersion("google.golang.org/protobuf"), moduleVersion("google.golang.org/grpc"))
	for _, f := range fws {
		fmt.Fprintf(w, "  %-7s codec: %s\n  %-7s handler mode: %s\n", f.Name, f.Codec, "", f.HandlerMode)
	}
	fmt.Fprintln(w, "a call succeeds when it returns no error and reply.Field1 == \"OK\"; latency is per call, from Say to its return")
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func printTable(w io.Writer, results []*bench.Result) {
	const row = "%-9s %7s %5s %9s %9s %9s %9s %7s\n"
	fmt.Fprintf(w, row, "framework", "callers", "conns", "TPS", "p50", "p99", "p99.9", "errors")
	for _, r := range results {
		h := r.Latency
		fmt.Fprintf(w, row, r.Framework, strconv.Itoa(r.Load.Callers), strconv.Itoa(r.Load.Conns),
			fmt.Sprintf("%.0f", r.TPS()), fmtDur(h.Quantile(0.50)), fmtDur(h.Quantile(0.99)),
			fmtDur(h.Quantile(0.999)), strconv.FormatUint(r.Errors, 10))
	}
}

func printAllocs(w io.Writer, results []*bench.Result) {
	fmt.Fprintln(w, "allocations per call (runtime.MemStats.Mallocs delta over the measured period / calls; client AND server, same process):")
	for _, r := range results {
		fmt.Fprintf(w, "  %-7s %dx%d: %.1f allocs/call\n", r.Framework, r.Load.Callers, r.Load.Conns, r.AllocsPerCall())
	}
}

func printRatios(w io.Writer, results []*bench.Result, fws []bench.Framework) {
	find := func(name string, l bench.Load) *bench.Result {
		for _, r := range results {
			if r.Framework == name && r.Load.Callers == l.Callers && r.Load.Conns == l.Conns && r.OK > 0 {
				return r
			}
		}
		return nil
	}
	for _, r := range results {
		if r.Framework != "brisk" || r.OK == 0 {
			continue
		}
		for _, f := range fws {
			if f.Name == "brisk" {
				continue
			}
			o := find(f.Name, r.Load)
			if o == nil {
				continue
			}
			fmt.Fprintf(w, "ratio brisk/%s %dx%d: TPS %.2fx, p99 %.2fx\n", f.Name, r.Load.Callers, r.Load.Conns,
				r.TPS()/o.TPS(), float64(r.Latency.Quantile(0.99))/float64(o.Latency.Quantile(0.99)))
		}
	}
}
