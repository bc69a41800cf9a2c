package main

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestClusterGame plays a short game on a 3-server cluster: every call must succeed (run
// returns the first failure), and scores read back must match the updates.
func TestClusterGame(t *testing.T) {
	if err := runCluster(3, 8, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
