package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. kcp-go (linked in for kcp@ addresses) starts its
// process-wide timer scheduler when the package loads; those goroutines never end.
func TestMain(m *testing.M) {
	// quic-go warns on the standard logger when it cannot enlarge the UDP receive buffer.
	_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}
