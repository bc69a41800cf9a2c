package mdns_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		os.Exit(runHelperServer(spec)) // a server process started by TestCrashedServerExpires
	}
	if code, ran := runInOwnNetns(); ran {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
