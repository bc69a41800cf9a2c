package discovery_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a goroutine of this package outlives the tests. It does with the
// standard library what goleak.VerifyTestMain does (go.uber.org/goleak is not a dependency of
// the module yet): goroutines that are exiting get a short grace period.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of the goroutines running code of this package, other
// than the caller, retrying with backoff for up to 5 s.
func leakedGoroutines() string {
	deadline := time.Now().Add(5 * time.Second)
	for wait := time.Microsecond; ; wait *= 2 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i > 0 && strings.Contains(g, "brisk/discovery") { // the first is this goroutine
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(min(wait, 100*time.Millisecond))
	}
}
