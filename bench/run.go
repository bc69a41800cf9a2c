package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/bench/pb"
)

// Load is one closed-loop scenario: Callers goroutines spread round-robin over Conns
// connections, each calling Hello.Say synchronously in a loop.
type Load struct {
	Callers  int
	Conns    int
	Warmup   time.Duration // calls before the measured period, not recorded
	Duration time.Duration // the measured period
}

// Result is what one framework did under one Load.
type Result struct {
	Framework string
	Load      Load
	Elapsed   time.Duration // the measured period, as it was
	OK        uint64        // calls that returned without error and with reply.Field1 == "OK"
	Errors    uint64        // calls that returned an error or a wrong reply
	Latency   *Histogram    // every successful call of the measured period
	Mallocs   uint64        // heap allocations in the process (client and server) over the period
}

// TPS is successful calls per second over the measured period.
func (r *Result) TPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// AllocsPerCall is process-wide allocations (client and server) per completed call.
func (r *Result) AllocsPerCall() float64 {
	n := r.OK + r.Errors
	if n == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(n)
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// Run starts f's server, opens l.Conns connections and drives l against it. A call counts in
// the measured period if it completes inside it.
func Run(f Framework, l Load) (*Result, error) {
	if l.Callers < 1 || l.Conns < 1 {
		return nil, fmt.Errorf("need at least one caller and one connection, have %d and %d", l.Callers, l.Conns)
	}
	srv, err := f.Start()
	if err != nil {
		return nil, fmt.Errorf("%s: start server: %w", f.Name, err)
	}
	defer srv.Close()
	conns := make([]Conn, 0, l.Conns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range l.Conns {
		c, err := f.Dial(srv.Addr())
		if err != nil {
			return nil, fmt.Errorf("%s: dial: %w", f.Name, err)
		}
		conns = append(conns, c)
	}

	var phase atomic.Int32
	hists := make([]*Histogram, l.Callers)
	okCounts := make([]uint64, l.Callers)
	errCounts := make([]uint64, l.Callers)
	firstErr := make([]error, l.Callers)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range l.Callers {
		hists[i] = new(Histogram)
		wg.Add(1)
		go func(i int, c Conn) {
			defer wg.Done()
			h := hists[i]
			args := pb.NewBenchmarkMessage()
			ctx := context.Background()
			var ok, bad uint64
			<-ready
			for {
				start := time.Now()
				reply, err := c.Say(ctx, args)
				d := time.Since(start)
				p := phase.Load()
				if p == phaseStop {
					break
				}
				good := err == nil && reply.GetField1() == "OK"
				if !good && firstErr[i] == nil {
					if err == nil {
						err = fmt.Errorf("wrong reply: field1 = %q", reply.GetField1())
					}
					firstErr[i] = err
				}
				if p == phaseMeasure {
					if good {
						ok++
						h.Record(d)
					} else {
						bad++
					}
				}
			}
			okCounts[i], errCounts[i] = ok, bad
		}(i, conns[i%l.Conns])
	}

	runtime.GC()
	close(ready)
	time.Sleep(l.Warmup)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(l.Duration)
	phase.Store(phaseStop)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	waitOrClose(&wg, conns)

	res := &Result{
		Framework: f.Name,
		Load:      l,
		Elapsed:   elapsed,
		Latency:   new(Histogram),
		Mallocs:   after.Mallocs - before.Mallocs,
	}
	for i := range l.Callers {
		res.Latency.Merge(hists[i])
		res.OK += okCounts[i]
		res.Errors += errCounts[i]
	}
	if res.OK == 0 {
		for _, err := range firstErr {
			if err != nil {
				return res, fmt.Errorf("%s: no call succeeded: %w", f.Name, err)
			}
		}
		return res, fmt.Errorf("%s: no call completed in %v", f.Name, l.Duration)
	}
	return res, nil
}

// stuckCallTimeout is how long Run waits for calls in flight when the period ends before it
// closes the connections to free callers stuck in a call.
const stuckCallTimeout = 30 * time.Second

func waitOrClose(wg *sync.WaitGroup, conns []Conn) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stuckCallTimeout):
		for _, c := range conns {
			_ = c.Close()
		}
		<-done
	}
}
