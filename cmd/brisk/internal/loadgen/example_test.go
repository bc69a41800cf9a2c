package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/brisk-rpc/brisk/cmd/brisk/internal/loadgen"
)

func Example() {
	// The work: every tenth call fails.
	var n atomic.Int64
	call := func(ctx context.Context) error {
		if n.Add(1)%10 == 0 {
			return errors.New("overloaded")
		}
		return nil
	}
	res, err := loadgen.Run(context.Background(), call, loadgen.Options{Count: 1000, Concurrency: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Requests, "calls,", res.Errors, "errors")
	for _, k := range res.ErrorKinds {
		fmt.Printf("%d × %s\n", k.Count, k.Error)
	}
	fmt.Println(res.Latency.P99 >= res.Latency.P50)
	// Output:
	// 1000 calls, 100 errors
	// 100 × overloaded
	// true
}
