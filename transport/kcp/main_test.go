package kcp_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// kcp-go starts its process-wide timer scheduler (kcp.SystemTimedSched: the sched
// goroutines, one per CPU, and prepend) when the package is loaded; they never end.
var leakOpts = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
	goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
}

// TestMain checks for leaked goroutines once the tests pass. A closed session lingers for
// a few retransmission timeouts (up to briskkcp.CloseTimeout) before its goroutines end, so
// the check allows for that rather than goleak's default half second.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := goleak.Find(leakOpts...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.Exit(code)
}
