package limiter_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/brisk-rpc/brisk/plugin/limiter"
	"github.com/brisk-rpc/brisk/server"
)

func Example() {
	lim := limiter.New(limiter.Config{
		InitialLimit: 2,
		MaxLimit:     500,
		OnLimit:      func(n int) { /* set a gauge */ },
	})
	s := server.NewServer(server.WithMiddleware(lim.Middleware()))
	defer s.Close()

	// Outside a server, Acquire does what the middleware does for each request.
	done1, _ := lim.Acquire()
	done2, _ := lim.Acquire()
	_, err := lim.Acquire()
	fmt.Println(lim.Limit(), lim.InFlight(), errors.Is(err, server.ErrOverloaded))
	done1(nil)
	done2(nil)
	fmt.Println(lim.InFlight(), lim.Shed())
	// Output:
	// 2 2 true
	// 0 1
}

func ExampleGradient() {
	// The algorithm alone, fed with synthetic samples: a server of capacity 4 whose
	// requests take 10 ms alone and queue beyond 4 at once.
	g := limiter.NewGradient(limiter.Config{ProbeInterval: -1})
	g.Update(10*time.Millisecond, 1)
	for range 500 {
		n := g.Limit()
		rtt := 10 * time.Millisecond * time.Duration(max(n, 4)) / 4
		g.Update(rtt, n)
	}
	fmt.Println(g.Limit(), g.Baseline())
	// Output:
	// 7 10ms
}
