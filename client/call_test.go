package client_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

func mul(t *testing.T, c *client.Client, a, b int) {
	t.Helper()
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: a, B: b}, &r); err != nil || r.C != a*b {
		t.Fatalf("Arith.Mul(%d, %d) = %d, %v", a, b, r.C, err)
	}
}

func TestCallErrors(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	tests := []struct {
		name    string
		method  string
		args    any
		service string // text of the expected ServiceError; "" for none
		err     error  // expected sentinel, if not a service error
	}{
		{"handler error", "Arith.Div", &testsvc.Args{A: 1}, "divide by zero", nil},
		{"handler panic", "Arith.Panic", &testsvc.Args{A: 5}, "[service internal error]: boom: 5", nil},
		{"unknown service", "Nope.Mul", &testsvc.Args{}, "brisk: can't find service Nope", nil},
		{"unknown method", "Arith.Nope", &testsvc.Args{}, "brisk: can't find method Nope of service Arith", nil},
		{"arguments the handler cannot decode", "Arith.Mul", "not args", "bad arguments", nil},
		{"no dot", "ArithMul", &testsvc.Args{}, "", client.ErrBadMethodName},
		{"no service", ".Mul", &testsvc.Args{}, "", client.ErrBadMethodName},
		{"no method", "Arith.", &testsvc.Args{}, "", client.ErrBadMethodName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r testsvc.Reply
			err := c.Call(context.Background(), tt.method, tt.args, &r)
			if tt.service != "" {
				var se client.ServiceError
				if !errors.As(err, &se) || !strings.Contains(string(se), tt.service) {
					t.Fatalf("got %v (%T), want a ServiceError containing %q", err, err, tt.service)
				}
				if client.IsTransportError(err) {
					t.Fatal("a service error is also a transport error")
				}
			} else if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			// No error breaks the connection.
			if c.IsShutdown() {
				t.Fatal("the client's connection ended")
			}
			mul(t, c, 3, 4)
		})
	}
}

func TestClientStates(t *testing.T) {
	var r testsvc.Reply
	args := &testsvc.Args{A: 1, B: 1}

	fresh := client.NewClient(client.DefaultOption)
	if err := fresh.Call(context.Background(), "Arith.Mul", args, &r); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("call before Connect: %v", err)
	}
	if fresh.RemoteAddr() != nil {
		t.Fatal("RemoteAddr before Connect is not nil")
	}
	if err := fresh.Close(); err != nil {
		t.Fatalf("Close of an unconnected client: %v", err)
	}

	// Dialling a port nobody listens on fails as a transport error.
	ln := testsvc.Listen(t)
	deadAddr := ln.Addr().String()
	_ = ln.Close()
	if err := client.NewClient(client.DefaultOption).Connect("tcp", deadAddr); !client.IsTransportError(err) {
		t.Fatalf("Connect to a closed port: %v, want a transport error", err)
	}

	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	if got := c.RemoteAddr().String(); got != addr {
		t.Fatalf("RemoteAddr %s, want %s", got, addr)
	}
	if err := c.Connect("tcp", addr); err == nil {
		t.Fatal("second Connect succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Call(ctx, "Arith.Mul", args, &r); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a cancelled context: %v", err)
	}
	mul(t, c, 2, 2)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !c.IsShutdown() {
		t.Fatal("IsShutdown false after Close")
	}
	if err := c.Call(context.Background(), "Arith.Mul", args, &r); !errors.Is(err, client.ErrShutdown) {
		t.Fatalf("call after Close: %v", err)
	}
	call := <-c.Go(context.Background(), "Arith.Mul", args, &r, nil).Done
	if !errors.Is(call.Error, client.ErrShutdown) {
		t.Fatalf("Go after Close: %v", call.Error)
	}
	mine, theirs := net.Pipe()
	defer theirs.Close()
	if err := c.ConnectConn(mine); !errors.Is(err, client.ErrShutdown) {
		t.Fatalf("ConnectConn after Close: %v", err)
	}
	if _, err := theirs.Write([]byte{1}); err == nil {
		t.Fatal("ConnectConn after Close left the connection open")
	}
	if err := client.NewClient(client.DefaultOption).ConnectConn(nil); err == nil {
		t.Fatal("ConnectConn(nil) succeeded")
	}
}

// TestOneway: a call with a nil reply returns once sent, its handler runs, and the server
// sends nothing back.
func TestOneway(t *testing.T) {
	s, a, addr := testsvc.NewArithServer(t)
	c, rec := testsvc.ConnectRecording(t, addr, client.DefaultOption)
	// Block does not return until released, so Call cannot have waited for it.
	if err := c.Call(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 2}, nil); err != nil {
		t.Fatalf("oneway Block: %v", err)
	}
	if got := testsvc.Recv(t, a.Entered, "Block to run"); got != (testsvc.Args{A: 1, B: 2}) {
		t.Fatalf("Block got %+v", got)
	}
	a.Release <- struct{}{}
	for _, m := range []string{"Arith.Notify", "Arith.Div", "Arith.Panic", "Nope.Nope"} {
		if err := c.Call(context.Background(), m, &testsvc.Args{A: 7}, nil); err != nil {
			t.Fatalf("oneway %s: %v", m, err)
		}
	}
	if got := testsvc.Recv(t, a.Notified, "Notify to run"); got.A != 7 {
		t.Fatalf("Notify got %+v", got)
	}
	for i, f := range rec.Written() {
		if f[2] != 0x20 {
			t.Fatalf("request %d has flags 0x%02x, want 0x20 (oneway)", i, f[2])
		}
	}
	// Shutdown waits for every call in flight, the oneway ones included, and for their
	// writes, then closes the connection: all the server ever sends is read before the end.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the client to see the connection end", c.IsShutdown)
	if got := rec.ReadFrames(); len(got) != 0 {
		t.Fatalf("the server answered oneway calls with %d frames", len(got))
	}
}

func TestMetadata(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)

	md := map[string]string{"trace": "abc", "user": "ann"}
	var resMD map[string]string
	ctx := client.WithResponseMetadata(client.WithMetadata(context.Background(), md), &resMD)
	var seen map[string]string
	if err := c.Call(ctx, "Arith.EchoMetadata", &testsvc.Args{}, &seen); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(seen, md) {
		t.Fatalf("handler saw %v, want %v", seen, md)
	}
	if want := map[string]string{"echo-trace": "abc", "echo-user": "ann"}; !maps.Equal(resMD, want) {
		t.Fatalf("response metadata %v, want %v", resMD, want)
	}
	if md["trace"] != "abc" || len(md) != 2 {
		t.Fatalf("the caller's map was modified: %v", md)
	}

	// A response without metadata leaves nil; the request's is not echoed.
	resMD = map[string]string{"stale": "x"}
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: 2, B: 2}, &r); err != nil {
		t.Fatal(err)
	}
	if resMD != nil {
		t.Fatalf("response metadata %v, want nil", resMD)
	}

	// The same through Go.
	var goMD map[string]string
	ctx = client.WithResponseMetadata(client.WithMetadata(context.Background(), map[string]string{"k": "v"}), &goMD)
	call := testsvc.Recv(t, c.Go(ctx, "Arith.EchoMetadata", &testsvc.Args{}, &seen, nil).Done, "Go call")
	if call.Error != nil || seen["k"] != "v" || goMD["echo-k"] != "v" {
		t.Fatalf("Go: %v, handler saw %v, response metadata %v", call.Error, seen, goMD)
	}
}

func TestAuth(t *testing.T) {
	tokens := make(chan string, 16)
	auth := server.WithAuthFunc(func(ctx context.Context, req *protocol.Message, token string) error {
		tokens <- token
		if token != "s3cret" {
			return errors.New("bad token")
		}
		return nil
	})
	_, _, addr := testsvc.NewArithServer(t, auth)
	tests := []struct {
		token string
		ok    bool
	}{
		{"s3cret", true},
		{"wrong", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run("token="+tt.token, func(t *testing.T) {
			opt := client.DefaultOption
			opt.AuthToken = tt.token
			c := testsvc.Connect(t, addr, opt)
			var r testsvc.Reply
			err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &r)
			if got := testsvc.Recv(t, tokens, "the auth func"); got != tt.token {
				t.Fatalf("auth func saw token %q, want %q", got, tt.token)
			}
			if tt.ok {
				if err != nil || r.C != 42 {
					t.Fatalf("authorised call: %d, %v", r.C, err)
				}
				mul(t, c, 2, 3)
				<-tokens
				return
			}
			if !client.IsServiceError(err) || !strings.Contains(err.Error(), "bad token") {
				t.Fatalf("refused call: %v, want a ServiceError with the auth error", err)
			}
			testsvc.Eventually(t, "the server to close the connection", c.IsShutdown)
			if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, &r); !client.IsTransportError(err) {
				t.Fatalf("call after refusal: %v, want a transport error", err)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var info testsvc.DeadlineInfo
	err := c.Call(ctx, "Arith.Deadline", &testsvc.Args{}, &info)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v, want context.DeadlineExceeded", err)
	}
	seen := testsvc.Recv(t, a.Deadlines, "the handler to start")
	if !seen.HasDeadline || seen.Remaining <= 0 || seen.Remaining > timeout {
		t.Fatalf("handler context deadline: %+v", seen)
	}
	if ms, err := strconv.Atoi(seen.Timeout); err != nil || ms <= 0 || ms > int(timeout/time.Millisecond) {
		t.Fatalf("__ServerTimeout %q", seen.Timeout)
	}
	if err := testsvc.Recv(t, a.CtxErr, "the handler's context to end"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler context ended with %v", err)
	}
	// The late error response is dropped and the connection stays usable.
	mul(t, c, 5, 5)

	// The same through Go.
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	call := c.Go(ctx, "Arith.Deadline", &testsvc.Args{}, &info, nil)
	if done := testsvc.Recv(t, call.Done, "the Go call"); !errors.Is(done.Error, context.DeadlineExceeded) {
		t.Fatalf("Go call past its deadline: %v, want context.DeadlineExceeded", done.Error)
	}
	if seen := testsvc.Recv(t, a.Deadlines, "the handler to start"); !seen.HasDeadline {
		t.Fatalf("handler of the Go call: %+v", seen)
	}
	if err := testsvc.Recv(t, a.CtxErr, "the handler's context to end"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler context ended with %v", err)
	}

	// Without a deadline the handler's context has none.
	ctx, cancel = context.WithCancel(context.Background())
	call = c.Go(ctx, "Arith.Deadline", &testsvc.Args{}, &info, nil)
	if seen := testsvc.Recv(t, a.Deadlines, "the handler to start"); seen.HasDeadline || seen.Timeout != "" {
		t.Fatalf("handler without a deadline saw %+v", seen)
	}
	cancel()
	if done := testsvc.Recv(t, call.Done, "the cancelled call"); !errors.Is(done.Error, context.Canceled) {
		t.Fatalf("cancelled call: %v", done.Error)
	}
}

func TestGo(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)

	t.Run("shared done channel", func(t *testing.T) {
		const n = 20
		done := make(chan *client.Call, n)
		for i := range n {
			call := c.Go(context.Background(), "Arith.Mul", &testsvc.Args{A: i, B: i}, new(testsvc.Reply), done)
			if call.Done != done {
				t.Fatal("Go did not use the given channel")
			}
		}
		seen := make(map[int]bool)
		for range n {
			call := testsvc.Recv(t, done, "a Go call")
			args := call.Args.(*testsvc.Args)
			if call.Error != nil || call.Reply.(*testsvc.Reply).C != args.A*args.A {
				t.Fatalf("call %d: %v %+v", args.A, call.Error, call.Reply)
			}
			if call.ServicePath != "Arith" || call.ServiceMethod != "Mul" {
				t.Fatalf("call names %s.%s", call.ServicePath, call.ServiceMethod)
			}
			seen[args.A] = true
		}
		if len(seen) != n {
			t.Fatalf("%d distinct calls completed, want %d", len(seen), n)
		}
	})

	t.Run("unbuffered done channel", func(t *testing.T) {
		call := c.Go(context.Background(), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply), make(chan *client.Call))
		if done := testsvc.Recv(t, call.Done, "the refused call"); done.Error == nil || !strings.Contains(done.Error.Error(), "buffered") {
			t.Fatalf("Go with an unbuffered channel: %v", done.Error)
		}
	})

	t.Run("bad method name", func(t *testing.T) {
		call := c.Go(context.Background(), "Mul", &testsvc.Args{}, new(testsvc.Reply), nil)
		if done := testsvc.Recv(t, call.Done, "the refused call"); !errors.Is(done.Error, client.ErrBadMethodName) {
			t.Fatalf("got %v", done.Error)
		}
	})

	t.Run("context cancelled in flight", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		call := c.Go(ctx, "Arith.Block", &testsvc.Args{A: 1, B: 1}, new(testsvc.Reply), nil)
		testsvc.Recv(t, a.Entered, "Block to start")
		cancel()
		if done := testsvc.Recv(t, call.Done, "the cancelled call"); !errors.Is(done.Error, context.Canceled) {
			t.Fatalf("cancelled Go call: %v", done.Error)
		}
		a.Release <- struct{}{} // its late answer is dropped
		mul(t, c, 4, 4)
	})

	t.Run("context already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		call := c.Go(ctx, "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply), nil)
		if done := testsvc.Recv(t, call.Done, "the cancelled call"); !errors.Is(done.Error, context.Canceled) {
			t.Fatalf("got %v", done.Error)
		}
	})

	// A context cancelled while Go is sending must still end the call with its error,
	// whichever of the watcher and the send gets there first.
	t.Run("context cancelled during send", func(t *testing.T) {
		for i := range 200 {
			ctx, cancel := context.WithCancel(context.Background())
			go cancel()
			call := c.Go(ctx, "Arith.Block", &testsvc.Args{A: i}, new(testsvc.Reply), nil)
			done := testsvc.Recv(t, call.Done, fmt.Sprintf("call %d", i))
			if !errors.Is(done.Error, context.Canceled) {
				t.Fatalf("call %d: %v", i, done.Error)
			}
		}
		// Release every Block that reached the server.
		for {
			select {
			case <-a.Entered:
				a.Release <- struct{}{}
				continue
			default:
			}
			break
		}
	})

	t.Run("Call cancelled in flight", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.Call(ctx, "Arith.Block", &testsvc.Args{}, new(testsvc.Reply)) }()
		testsvc.Recv(t, a.Entered, "Block to start")
		cancel()
		if err := testsvc.Recv(t, errc, "the cancelled Call"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Call: %v", err)
		}
		a.Release <- struct{}{}
		mul(t, c, 4, 5)
	})
}

// TestClosePendingCalls: Close ends every pending call with ErrShutdown at once.
func TestClosePendingCalls(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", addr); err != nil {
		t.Fatal(err)
	}
	const n = 10
	calls := make([]*client.Call, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i}, new(testsvc.Reply), nil)
	}
	for range n {
		testsvc.Recv(t, a.Entered, "a handler to start")
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for i, call := range calls {
		if done := testsvc.Recv(t, call.Done, fmt.Sprintf("pending call %d", i)); !errors.Is(done.Error, client.ErrShutdown) {
			t.Fatalf("pending call %d ended with %v, want ErrShutdown", i, done.Error)
		}
	}
	if err := testsvc.Recv(t, closed, "Close to return"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The server sees the connection go and cancels the handlers.
	for range n {
		if err := testsvc.Recv(t, a.CtxErr, "a handler to be cancelled"); !errors.Is(err, context.Canceled) {
			t.Fatalf("handler saw %v", err)
		}
	}
}

// TestServerGoneFailsCalls: a server that dies fails the pending calls and later ones with
// transport errors.
func TestServerGoneFailsCalls(t *testing.T) {
	ln := testsvc.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
		close(accepted)
	}()
	defer ln.Close()
	c := testsvc.Connect(t, ln.Addr().String(), client.DefaultOption)
	nc := testsvc.Recv(t, accepted, "the connection")
	if nc == nil {
		t.Fatal("accept failed")
	}
	_ = nc.SetDeadline(time.Now().Add(testsvc.Bound))
	call := c.Go(context.Background(), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply), nil)
	if _, err := testsvc.ReadFrame(nc); err != nil { // the request arrived; never answer it
		t.Fatal(err)
	}
	_ = nc.Close()
	done := testsvc.Recv(t, call.Done, "the pending call")
	var te *client.TransportError
	if !errors.As(done.Error, &te) || te.Op != "read" {
		t.Fatalf("pending call: %v, want a read TransportError", done.Error)
	}
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply)); !client.IsTransportError(err) {
		t.Fatalf("later call: %v", err)
	}
	if !c.IsShutdown() {
		t.Fatal("IsShutdown false on a broken connection")
	}
}
