package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// goCalls starts n Arith.Block calls and waits until every handler has started.
func goCalls(t *testing.T, c *client.Client, a *testsvc.Arith, n int) []*client.Call {
	t.Helper()
	calls := make([]*client.Call, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i, B: 2}, new(testsvc.Reply), nil)
	}
	for i := range n {
		testsvc.Recv(t, a.Entered, fmt.Sprintf("handler %d to start", i))
	}
	return calls
}

func TestShutdownGraceful(t *testing.T) {
	s, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	calls := goCalls(t, c, a, 3)

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()

	// Once the listener refuses connections, every open connection is draining (Shutdown
	// marks them first).
	testsvc.Eventually(t, "the listener to close", func() bool {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			_ = nc.Close()
		}
		return err != nil
	})
	var r testsvc.Reply
	err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &r)
	if !client.IsServiceError(err) || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("call after Shutdown began: %v, want a shutting-down service error", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with calls in flight", err)
	default:
	}

	close(a.Release)
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, fmt.Sprintf("in-flight call %d", i))
		if done.Error != nil || done.Reply.(*testsvc.Reply).C != 2*i {
			t.Fatalf("in-flight call %d: %v, reply %+v", i, done.Error, done.Reply)
		}
	}
	if err := testsvc.Recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The connection is gone: the next call fails as a transport error.
	testsvc.Eventually(t, "the client to see the connection closed", c.IsShutdown)
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, &r); !client.IsTransportError(err) {
		t.Fatalf("call after Shutdown: %v, want a transport error", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("dial after Shutdown succeeded")
	}
}

func TestShutdownExpiredContext(t *testing.T) {
	s, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	calls := goCalls(t, c, a, 2)

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with an expired context: %v, want DeadlineExceeded", err)
	}
	for i := range calls {
		if err := testsvc.Recv(t, a.CtxErr, fmt.Sprintf("handler %d to see its context end", i)); !errors.Is(err, context.Canceled) {
			t.Fatalf("handler %d saw %v, want context.Canceled", i, err)
		}
	}
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, fmt.Sprintf("call %d", i))
		if !client.IsTransportError(done.Error) {
			t.Fatalf("call %d ended with %v, want a transport error", i, done.Error)
		}
	}
}

func TestShutdownIdle(t *testing.T) {
	s := server.NewServer()
	ln := testsvc.Listen(t)
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ln) }()
	testsvc.Eventually(t, "the server to serve", func() bool { return len(s.Addresses()) == 1 })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := testsvc.Recv(t, served, "ServeListener to return"); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("ServeListener returned %v", err)
	}
	if err := s.ServeListener(testsvc.Listen(t)); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("ServeListener after Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
}

// TestKillMidLoad: 50 goroutines call in a loop; the server dies under them; every one of
// them ends promptly with a transport error or ErrShutdown.
func TestKillMidLoad(t *testing.T) {
	tests := []struct {
		name string
		kill func(s *server.Server, ln net.Listener)
	}{
		{"Close", func(s *server.Server, ln net.Listener) { _ = s.Close() }},
		{"close listener and connections", func(s *server.Server, ln net.Listener) {
			_ = ln.Close()
			for _, nc := range s.ActiveClientConn() {
				_ = nc.Close()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := server.NewServer()
			if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
				t.Fatal(err)
			}
			ln := testsvc.Listen(t)
			served := make(chan error, 1)
			go func() { served <- s.ServeListener(ln) }()
			defer func() {
				_ = s.Close()
				testsvc.Recv(t, served, "ServeListener to return")
			}()

			clients := make([]*client.Client, 5)
			for i := range clients {
				clients[i] = testsvc.Connect(t, ln.Addr().String(), client.DefaultOption)
			}
			const workers = 50
			var calls atomic.Int64
			loaded := make(chan struct{})
			var loadedOnce sync.Once
			results := make(chan error, workers)
			for i := range workers {
				c := clients[i%len(clients)]
				go func() {
					for {
						var r testsvc.Reply
						if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: i, B: 3}, &r); err != nil {
							results <- err
							return
						}
						if r.C != 3*i {
							results <- fmt.Errorf("wrong reply %d for %d*3", r.C, i)
							return
						}
						if calls.Add(1) == 1000 {
							loadedOnce.Do(func() { close(loaded) })
						}
					}
				}()
			}
			testsvc.Recv(t, loaded, "1000 calls to succeed")
			tt.kill(s, ln)

			timer := time.NewTimer(testsvc.Bound)
			defer timer.Stop()
			for i := range workers {
				select {
				case err := <-results:
					if !client.IsTransportError(err) && !errors.Is(err, client.ErrShutdown) {
						t.Errorf("worker ended with %v (%T), want a transport error or ErrShutdown", err, err)
					}
				case <-timer.C:
					t.Fatalf("%d of %d callers still hang %v after the kill", workers-i, workers, testsvc.Bound)
				}
			}
			for _, c := range clients {
				if !c.IsShutdown() {
					t.Error("a client still reports a live connection")
				}
			}
		})
	}
}

func TestServeUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brisk.sock")
	// A socket file left behind by a crashed server must not stop Serve.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = stale.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket to start from: %v", err)
	}

	s := server.NewServer()
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve("unix", path) }()
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := testsvc.Recv(t, served, "Serve to return"); !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}()
	testsvc.Eventually(t, "the server to listen on "+path, func() bool {
		addrs := s.Addresses()
		return len(addrs) == 1 && addrs[0].Network() == "unix"
	})

	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("unix", path); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &r); err != nil || r.C != 42 {
		t.Fatalf("call over unix socket: %d, %v", r.C, err)
	}
}

// TestShutdownWhileConnectionsEnd: connections that end while Shutdown starts must not
// leave it waiting for a drain notice that never comes.
func TestShutdownWhileConnectionsEnd(t *testing.T) {
	for i := range 50 {
		s := server.NewServer()
		if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
			t.Fatal(err)
		}
		ln := testsvc.Listen(t)
		served := make(chan error, 1)
		go func() { served <- s.ServeListener(ln) }()
		clients := make([]*client.Client, 3)
		for j := range clients {
			clients[j] = client.NewClient(client.DefaultOption)
			if err := clients[j].Connect("tcp", ln.Addr().String()); err != nil {
				t.Fatal(err)
			}
			// A call proves the server holds the connection.
			if err := clients[j].Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, new(testsvc.Reply)); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range clients {
			go c.Close()
		}
		shutdown := make(chan error, 1)
		go func() { shutdown <- s.Shutdown(context.Background()) }()
		if err := testsvc.Recv(t, shutdown, fmt.Sprintf("Shutdown %d to return", i)); err != nil {
			t.Fatalf("Shutdown %d: %v", i, err)
		}
		if err := testsvc.Recv(t, served, "ServeListener to return"); !errors.Is(err, server.ErrServerClosed) {
			t.Fatalf("ServeListener returned %v", err)
		}
		for _, c := range clients {
			_ = c.Close() // waits for the goroutines of the Close above
		}
	}
}
