package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/bench/pb"
)

// TestSmoke makes ~200 calls to each framework from 2 callers over 1 connection and checks
// every reply, then runs the load driver briefly.
func TestSmoke(t *testing.T) {
	for _, name := range []string{"brisk", "grpc", "netrpc"} {
		t.Run(name, func(t *testing.T) {
			f := Frameworks[name]
			srv, err := f.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c, err := f.Dial(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			const callers, calls = 2, 100
			var wg sync.WaitGroup
			errs := make(chan error, callers*calls)
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					args := pb.NewBenchmarkMessage()
					for range calls {
						reply, err := c.Say(context.Background(), args)
						if err != nil {
							errs <- err
							continue
						}
						if reply.GetField1() != "OK" || reply.GetField2() != 100 ||
							reply.GetField9() != args.GetField9() || reply.GetField22() != 100000 || !reply.GetField78() {
							t.Errorf("bad reply: %v", reply)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			r, err := Run(f, Load{Callers: 2, Conns: 1, Duration: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK == 0 || r.Errors != 0 || r.Latency.Count() != r.OK {
				t.Fatalf("Run: ok=%d errors=%d recorded=%d", r.OK, r.Errors, r.Latency.Count())
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff > 0.01 || diff < -0.01 {
			t.Errorf("q%v = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 || h.Max() != 10*time.Millisecond {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
	// Exact below 256 ns; every bucket index in range.
	var small Histogram
	small.Record(200)
	if small.Quantile(0.5) != 200 {
		t.Errorf("small value: %v", small.Quantile(0.5))
	}
	small.Record(time.Hour)
	if i := bucketOf(uint64(time.Hour)); i >= histBuckets {
		t.Errorf("bucket %d out of range", i)
	}
	for v := uint64(0); v < 1<<20; v = v*2 + 1 {
		low, width := bucketRange(bucketOf(v))
		if v < low || v >= low+width {
			t.Errorf("value %d outside its bucket [%d,%d)", v, low, low+width)
		}
	}
}
