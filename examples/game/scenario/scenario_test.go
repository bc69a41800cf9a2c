package scenario_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/examples/game/scenario"
)

// TestClusterGame plays a short game on a 3-server cluster registered in an embedded etcd:
// every call must succeed (runCluster returns the first failure), scores read back must
// match the updates, and the drained server must leave the registry.
func TestClusterGame(t *testing.T) {
	var out bytes.Buffer
	if err := scenario.RunCluster(context.Background(), &out, "", 3, 8, time.Second); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"discovered 3 servers", "draining", "its etcd entry is deleted", "failed: 0", "live rank pushes, 0 out of order"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
