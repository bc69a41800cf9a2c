package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// newStreamServer serves Arith and Streams on loopback.
func newStreamServer(t *testing.T, opts ...server.Option) (*testsvc.Streams, string) {
	t.Helper()
	s := server.NewServer(opts...)
	st := testsvc.NewStreams()
	if err := s.RegisterName("Streams", st, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	return st, testsvc.Serve(t, s)
}

func TestStreamPatterns(t *testing.T) {
	_, addr := newStreamServer(t)
	for _, serial := range []protocol.SerializeType{protocol.MsgPack, protocol.JSON} {
		opt := client.DefaultOption
		opt.SerializeType = serial
		c := testsvc.Connect(t, addr, opt)
		ctx := context.Background()

		t.Run(serial.String()+"/bidi echo", func(t *testing.T) {
			st, err := c.NewStream(ctx, "Streams.Echo")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := range 100 {
				if err := st.Send(&testsvc.Chunk{Seq: i, Data: []byte{byte(i)}}); err != nil {
					t.Fatal(err)
				}
				var got testsvc.Chunk
				if err := st.Recv(&got); err != nil {
					t.Fatal(err)
				}
				if got.Seq != i || !bytes.Equal(got.Data, []byte{byte(i)}) {
					t.Fatalf("echo %d: got %+v", i, got)
				}
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var got testsvc.Chunk
			if err := st.Recv(&got); err != io.EOF {
				t.Fatalf("Recv after CloseSend = %v, want io.EOF", err)
			}
			if st.Trailer()["echoed"] != "yes" {
				t.Fatalf("trailer = %v", st.Trailer())
			}
			if err := st.Send(&got); !errors.Is(err, client.ErrSendClosed) {
				t.Fatalf("Send after CloseSend = %v, want ErrSendClosed", err)
			}
		})
		t.Run(serial.String()+"/client stream", func(t *testing.T) {
			st, err := c.NewStream(ctx, "Streams.Sum")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := 1; i <= 1000; i++ {
				if err := st.Send(i); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var sum int
			if err := st.Recv(&sum); err != nil || sum != 500500 {
				t.Fatalf("sum = %d, %v", sum, err)
			}
			if err := st.Recv(&sum); err != io.EOF {
				t.Fatalf("Recv = %v, want io.EOF", err)
			}
		})
		t.Run(serial.String()+"/server stream", func(t *testing.T) {
			st, err := c.NewStream(ctx, "Streams.Count")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Send(50000); err != nil {
				t.Fatal(err)
			}
			for i := range 50000 {
				var n int
				if err := st.Recv(&n); err != nil || n != i {
					t.Fatalf("message %d = %d, %v", i, n, err)
				}
			}
			var n int
			if err := st.Recv(&n); err != io.EOF {
				t.Fatalf("Recv = %v, want io.EOF", err)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	_, addr := newStreamServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := context.Background()
	tests := []struct {
		name, method string
		send         any
		want         string
		notFound     bool
	}{
		{"method error", "Streams.Fail", "boom", "boom", false},
		{"unknown service", "Nope.Echo", nil, "can't find service Nope", true},
		{"unknown method", "Streams.Nope", nil, "can't find method Nope", true},
		{"not a stream method", "Arith.Mul", nil, "is not a stream method", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.NewStream(ctx, tt.method)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if tt.send != nil {
				if err := st.Send(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			var v any
			err = st.Recv(&v)
			if !client.IsServiceError(err) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("Recv = %v, want a service error with %q", err, tt.want)
			}
			if client.IsNotFound(err) != tt.notFound {
				t.Fatalf("IsNotFound(%v) = %v", err, !tt.notFound)
			}
			if err := st.Send(1); err != io.EOF {
				t.Fatalf("Send after the server ended = %v, want io.EOF", err)
			}
		})
	}
	t.Run("call to a stream method", func(t *testing.T) {
		err := c.Call(ctx, "Streams.Echo", 1, new(int))
		if !client.IsServiceError(err) || !bytes.Contains([]byte(err.Error()), []byte("is a stream method")) {
			t.Fatalf("Call = %v", err)
		}
	})
	t.Run("bad method name", func(t *testing.T) {
		if _, err := c.NewStream(ctx, "nodot"); !errors.Is(err, client.ErrBadMethodName) {
			t.Fatalf("NewStream = %v", err)
		}
	})
}

// TestStreamCancel: cancelling a stream (its context, or Close) ends the server's method
// with ErrStreamCanceled and frees the stream on both sides.
func TestStreamCancel(t *testing.T) {
	svc, addr := newStreamServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := c.NewStream(ctx, "Streams.Block")
			if err != nil {
				t.Fatal(err)
			}
			testsvc.Recv(t, svc.Entered, "stream method started")
			if how == "context" {
				cancel()
			} else {
				_ = st.Close()
			}
			if err := testsvc.Recv(t, svc.Ended, "stream method ended"); !errors.Is(err, server.ErrStreamCanceled) {
				t.Fatalf("server Recv = %v, want ErrStreamCanceled", err)
			}
			var v testsvc.Chunk
			err = st.Recv(&v)
			want := error(context.Canceled)
			if how == "Close" {
				want = client.ErrStreamClosed
			}
			if !errors.Is(err, want) {
				t.Fatalf("client Recv = %v, want %v", err, want)
			}
			testsvc.Eventually(t, "stream method returned", func() bool { return svc.Running.Load() == 0 })
			if n := client.OpenStreams(c); n != 0 {
				t.Fatalf("client still holds %d streams", n)
			}
		})
	}
}

// TestStreamPeerKilled: when the connection dies, every stream ends with an error on both
// sides.
func TestStreamPeerKilled(t *testing.T) {
	svc, addr := newStreamServer(t)
	var nc net.Conn
	opt := client.DefaultOption
	c := client.NewClient(opt)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc = raw
	if err := c.ConnectConn(nc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 8
	streams := make([]*client.Stream, n)
	for i := range streams {
		method := "Streams.Block"
		if i%2 == 1 {
			method = "Streams.Flood"
		}
		if streams[i], err = c.NewStream(context.Background(), method); err != nil {
			t.Fatal(err)
		}
		testsvc.Recv(t, svc.Entered, "stream started")
	}
	_ = nc.Close() // the connection dies under every stream
	for i, st := range streams {
		var v testsvc.Chunk
		for {
			err = st.Recv(&v)
			if err != nil {
				break
			}
		}
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("stream %d: Recv = %v, want a TransportError", i, err)
		}
	}
	for range n {
		if err := testsvc.Recv(t, svc.Ended, "server side ended"); err == nil {
			t.Fatal("server stream ended without an error")
		}
	}
	testsvc.Eventually(t, "stream methods returned", func() bool { return svc.Running.Load() == 0 })
}

// TestStreamsAndCallsShareAConnection: many streams and calls at once on one connection all
// complete, while a flooding stream nobody reads is held back by flow control.
func TestStreamsAndCallsShareAConnection(t *testing.T) {
	svc, addr := newStreamServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := context.Background()

	flood, err := c.NewStream(ctx, "Streams.Flood") // never read: must not block the others
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	testsvc.Recv(t, svc.Entered, "flood started")

	const streams, calls, msgs = 50, 500, 200
	var wg sync.WaitGroup
	errs := make(chan error, streams+calls)
	for i := range streams {
		wg.Go(func() {
			st, err := c.NewStream(ctx, "Streams.Echo")
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			payload := bytes.Repeat([]byte{byte(i)}, 1000)
			go func() {
				for j := range msgs {
					if err := st.Send(&testsvc.Chunk{Seq: j, Data: payload}); err != nil {
						return
					}
				}
				_ = st.CloseSend()
			}()
			for j := range msgs {
				var got testsvc.Chunk
				if err := st.Recv(&got); err != nil || got.Seq != j || !bytes.Equal(got.Data, payload) {
					errs <- fmt.Errorf("stream %d message %d: %v %d", i, j, err, got.Seq)
					return
				}
			}
			var got testsvc.Chunk
			if err := st.Recv(&got); err != io.EOF {
				errs <- fmt.Errorf("stream %d end: %v", i, err)
			}
		})
	}
	for i := range calls {
		wg.Go(func() {
			var r testsvc.Reply
			if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: i, B: 2}, &r); err != nil || r.C != 2*i {
				errs <- fmt.Errorf("call %d: %v %d", i, err, r.C)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = flood.Close()
	testsvc.Eventually(t, "every stream to end", func() bool { return client.OpenStreams(c) == 0 })
}

// TestStreamGigabyteBoundedMemory sends 1 GiB of generated data through an echo stream and
// checks every byte that comes back, while the heap stays bounded by the flow-control
// windows: neither side buffers what the other has not consumed.
func TestStreamGigabyteBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1 GiB")
	}
	_, addr := newStreamServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := c.NewStream(ctx, "Streams.Echo")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const chunk = 64 << 10
	const total = 1 << 30
	const chunks = total / chunk
	// Each chunk is a window into one pattern at an offset given by its number, so data
	// that arrives out of order or corrupted does not match.
	pattern := make([]byte, chunk+251)
	for i := range pattern {
		pattern[i] = byte(i*13 + i>>8)
	}
	data := func(seq int) []byte { return pattern[seq%251 : seq%251+chunk] }
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	sendErr := make(chan error, 1)
	go func() {
		for seq := range chunks {
			if err := st.Send(&testsvc.Chunk{Seq: seq, Data: data(seq)}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- st.CloseSend()
	}()
	var peak uint64
	var got testsvc.Chunk
	for seq := range chunks {
		if err := st.Recv(&got); err != nil {
			t.Fatalf("chunk %d: %v", seq, err)
		}
		if got.Seq != seq || !bytes.Equal(got.Data, data(seq)) {
			t.Fatalf("chunk %d: got seq %d, data equal %v", seq, got.Seq, bytes.Equal(got.Data, data(seq)))
		}
		if seq%512 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err := st.Recv(&got); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("send: %v", err)
	}
	grew := int64(peak) - int64(base)
	t.Logf("1 GiB echoed; heap in use grew by at most %d KiB", grew>>10)
	// Windows of 1 MiB each way, one message over them, encode and write buffers: a few MiB.
	// Without flow control the heap would hold most of the GiB.
	if grew > 64<<20 {
		t.Fatalf("heap in use grew by %d MiB while streaming", grew>>20)
	}
}

// TestXClientStream: an XClient opens streams on a server it discovered; a server that
// leaves the list keeps its connection until the stream ends.
func TestXClientStream(t *testing.T) {
	s := server.NewServer()
	if err := s.RegisterName("Streams", testsvc.NewStreams(), ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	d, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	x := client.NewXClient("Streams", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	ctx := context.Background()

	st, err := x.NewStream(ctx, "Echo")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := d.Update(nil); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the XClient to drop the server", func() bool { return len(x.Endpoints()) == 0 })
	for i := range 10 {
		if err := st.Send(&testsvc.Chunk{Seq: i}); err != nil {
			t.Fatal(err)
		}
		var got testsvc.Chunk
		if err := st.Recv(&got); err != nil || got.Seq != i {
			t.Fatalf("echo %d after the server left the list: %d, %v", i, got.Seq, err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got testsvc.Chunk
	if err := st.Recv(&got); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	testsvc.Eventually(t, "the idle connection to close", func() bool { return len(s.ActiveClientConn()) == 0 })
	if _, err := x.NewStream(ctx, "Echo"); !errors.Is(err, client.ErrNoServer) {
		t.Fatalf("NewStream without servers = %v, want ErrNoServer", err)
	}
}

// metaStreams answers a stream with the open's metadata value "k".
type metaStreams struct{}

func (metaStreams) Meta(ctx context.Context, st *server.Stream) error {
	return st.Send(server.RequestMetadata(ctx)["k"])
}

// TestStreamClientMiddleware: client middleware sees a stream's open (Invocation.Stream)
// and its metadata reaches the server; a middleware that fails the open fails NewStream.
func TestStreamClientMiddleware(t *testing.T) {
	s := server.NewServer()
	if err := s.RegisterName("M", metaStreams{}, ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	var seen []string
	refuse := errors.New("refused by middleware")
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{func(next client.Invoker) client.Invoker {
		return func(ctx context.Context, inv *client.Invocation) error {
			seen = append(seen, fmt.Sprintf("%s.%s stream=%v", inv.ServicePath, inv.ServiceMethod, inv.Stream))
			if inv.ServiceMethod == "Refused" {
				return refuse
			}
			return next(client.WithMetadata(ctx, map[string]string{"k": "from middleware"}), inv)
		}
	}}
	c := testsvc.Connect(t, addr, opt)
	st, err := c.NewStream(context.Background(), "M.Meta")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got string
	if err := st.Recv(&got); err != nil || got != "from middleware" {
		t.Fatalf("metadata seen by the server: %q, %v", got, err)
	}
	if _, err := c.NewStream(context.Background(), "M.Refused"); !errors.Is(err, refuse) {
		t.Fatalf("NewStream through a refusing middleware = %v", err)
	}
	want := []string{"M.Meta stream=true", "M.Refused stream=true"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("middleware saw %v, want %v", seen, want)
	}
	if n := client.OpenStreams(c); n > 1 {
		t.Fatalf("%d streams open, want at most the one in use", n)
	}
}

// stallConn passes writes through until stall is set; then a write waits until the
// connection is closed, as on a peer that stopped reading.
type stallConn struct {
	net.Conn
	stall   atomic.Bool
	stalled chan struct{} // receives when a write starts waiting
	closed  chan struct{}
	once    sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.stall.Load() {
		c.stalled <- struct{}{}
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestStreamCloseWakesSendWaitingForTheWriter: a Send held back because the connection's
// write backlog is full (the peer stopped reading) returns when its stream is closed, even
// with a context that never ends.
func TestStreamCloseWakesSendWaitingForTheWriter(t *testing.T) {
	cs, ss := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, ss) }()
	defer ss.Close()
	sc := &stallConn{Conn: cs, stalled: make(chan struct{}, 1), closed: make(chan struct{})}
	c := client.NewClient(client.DefaultOption)
	if err := c.ConnectConn(sc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var streams [3]*client.Stream
	for i := range streams {
		st, err := c.NewStream(ctx, "S.M")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		streams[i] = st
	}
	sc.stall.Store(true)
	chunk := make([]byte, 64<<10)
	stuck := make(chan error, 1)
	go func() { stuck <- streams[0].Send(chunk) }() // becomes the writer, blocked in Write
	testsvc.Recv(t, sc.stalled, "the writer to block")
	// Fill the backlog past 512 KiB with the other two streams' credit (256 KiB each: four
	// 64 KiB messages): with the first stream's message, 8 messages are queued.
	for i, n := range []int{4, 3} {
		for range n {
			if err := streams[1+i].Send(chunk); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := make(chan error, 1)
	go func() { last <- streams[2].Send(chunk) }() // has credit, waits for the writer
	// Let it reach the wait (if Close came first, Send would fail at once, which proves
	// nothing but is not wrong).
	for range 100 {
		runtime.Gosched()
	}
	_ = streams[2].Close()
	if err := testsvc.Recv(t, last, "Send to return after Close"); !errors.Is(err, client.ErrStreamClosed) {
		t.Fatalf("Send after Close = %v, want ErrStreamClosed", err)
	}
	_ = c.Close()
	testsvc.Recv(t, stuck, "the blocked writer to return after the client closed")
}
