package server_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// A client that sends requests but never reads the answers is stopped (the server stops
// reading it) instead of making the server buffer every answer.
func TestWriteBacklogIsBounded(t *testing.T) {
	const replySize = 256 << 10
	big := make([]byte, replySize)
	s := server.NewServer(server.WithMaxWriteBacklog(1 << 20))
	err := s.RegisterFunctionName("Big", "Get", func(ctx context.Context, args *[]byte, reply *[]byte) error {
		*reply = big
		return nil
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)

	req := protocol.NewMessage()
	req.SetSerializeType(protocol.SerializeNone) // raw bytes in, raw bytes out
	req.ServicePath, req.ServiceMethod = "Big", "Get"
	req.Payload = make([]byte, 64<<10) // enough requests to fill the socket buffers
	var frames []byte
	const requests = 400 // 25 MiB of requests, 100 MiB of answers
	for i := range requests {
		req.SetSeq(uint64(i + 1))
		frames = req.AppendFrame(frames)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err = nc.Write(frames)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("writing %d requests without reading: %v, want the server to stop reading (a write timeout)", requests, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Fatalf("the server's heap grew by %d MiB for a client that reads nothing", grew>>20)
	}
}
