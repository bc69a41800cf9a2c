package bench

import (
	"testing"
	"time"
)

// TestStreamTransports moves a few hundred KiB over every stream transport, one stream and
// three at once, with a chunk size that does not divide the total, and checks the receiver
// counted every byte.
func TestStreamTransports(t *testing.T) {
	for _, name := range []string{"tcp", "brisk-up", "brisk-down", "grpc-up", "grpc-down"} {
		for _, k := range []int{1, 3} {
			l := StreamLoad{Total: 300_007, Chunk: 4096, Streams: k, Timeout: 30 * time.Second}
			r, err := RunStream(StreamTransports[name], l)
			if err != nil {
				t.Fatalf("%s x%d: %v", name, k, err)
			}
			if want := l.Total * int64(k); r.Bytes != want {
				t.Errorf("%s x%d: received %d bytes, want %d", name, k, r.Bytes, want)
			}
			if r.Elapsed <= 0 || r.MBps() <= 0 {
				t.Errorf("%s x%d: elapsed %v, %.1f MB/s", name, k, r.Elapsed, r.MBps())
			}
		}
	}
	if _, err := LookupStreams("tcp,nope"); err == nil {
		t.Error("LookupStreams accepted an unknown transport")
	}
}
