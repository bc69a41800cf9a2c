package quic_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// quic-go prints a warning with the standard logger when it cannot enlarge the UDP
	// receive buffer (unprivileged containers); it says nothing about the tests.
	_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}
