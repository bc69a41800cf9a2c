package server_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

func newStreamServer(t *testing.T, opts ...server.Option) (*server.Server, *testsvc.Streams, string) {
	t.Helper()
	s := server.NewServer(opts...)
	svc := testsvc.NewStreams()
	if err := s.RegisterName("Streams", svc, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	return s, svc, testsvc.Serve(t, s)
}

// TestStreamFlowControlBoundsTheServer: a method that never receives holds at most its
// window of the client's messages; the client's Send waits meanwhile, calls on the same
// connection still go through, and cancelling frees the queued messages on both sides.
func TestStreamFlowControlBoundsTheServer(t *testing.T) {
	const window = 512 << 10
	s, svc, addr := newStreamServer(t, server.WithStreamWindow(window))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := c.NewStream(ctx, "Streams.Stall")
	if err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, svc.Entered, "Stall started")

	const chunk = 16 << 10
	var sent atomic.Int64
	sendDone := make(chan error, 1)
	go func() {
		data := make([]byte, chunk)
		for {
			if err := st.Send(&testsvc.Chunk{Data: data}); err != nil {
				sendDone <- err
				return
			}
			sent.Add(chunk)
		}
	}()
	// The server's queue fills up to its window, and no further.
	testsvc.Eventually(t, "the server's window to fill", func() bool {
		_, _, cost := server.StreamState(s)
		return cost >= window-2*chunk
	})
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &r); err != nil || r.C != 42 {
		t.Fatalf("call beside a full stream: %d, %v", r.C, err)
	}
	streams, queued, cost := server.StreamState(s)
	if streams != 1 || cost > window+2*chunk {
		t.Fatalf("server holds %d streams, %d messages costing %d bytes; window %d", streams, queued, cost, window)
	}
	if n := sent.Load(); n > window+2*chunk {
		t.Fatalf("client sent %d bytes past a %d-byte window", n, window)
	}

	cancel()
	if err := <-sendDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send after cancel = %v", err)
	}
	if err := testsvc.Recv(t, svc.Ended, "Stall ended"); !errors.Is(err, context.Canceled) {
		t.Fatalf("server context: %v", err)
	}
	testsvc.Eventually(t, "the server to forget the stream", func() bool {
		streams, queued, _ := server.StreamState(s)
		return streams == 0 && queued == 0
	})
}
