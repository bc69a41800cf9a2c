package kcp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	kcpgo "github.com/xtaci/kcp-go/v5"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
)

func TestCalls(t *testing.T) {
	block, err := kcpgo.NewAESBlockCrypt([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	setups := []struct {
		name string
		su   setup
	}{
		{"plain", setup{}},
		{"tls", setup{tls: true}},
		{"aes+fec", setup{opts: []briskkcp.Option{briskkcp.WithBlockCrypt(block), briskkcp.WithFEC(10, 3)}}},
		{"tuned", setup{opts: []briskkcp.Option{briskkcp.WithNoDelay(0, 20, 0, 0), briskkcp.WithWindowSize(64, 64), briskkcp.WithMTU(500)}}},
	}
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) { testCalls(t, newEnvWith(t, su.su)) })
	}
}

func testCalls(t *testing.T, e *env) {
	c := connect(t, e.addr, e.opt)
	tests := []struct {
		name    string
		method  string
		args    testsvc.Args
		want    int
		wantErr string // a service error containing this, or "" for success
	}{
		{"mul", "Arith.Mul", testsvc.Args{A: 7, B: 8}, 56, ""},
		{"div", "Arith.Div", testsvc.Args{A: 56, B: 8}, 7, ""},
		{"service error", "Arith.Div", testsvc.Args{A: 1}, 0, "divide by zero"},
		{"unknown method", "Arith.Nope", testsvc.Args{}, 0, "Nope"},
		{"panic", "Arith.Panic", testsvc.Args{A: 3}, 0, "boom: 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r testsvc.Reply
			err := c.Call(context.Background(), tt.method, &tt.args, &r)
			if tt.wantErr == "" {
				if err != nil || r.C != tt.want {
					t.Fatalf("%s(%+v) = %d, %v; want %d", tt.method, tt.args, r.C, err, tt.want)
				}
				return
			}
			if !client.IsServiceError(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s: %v, want a service error with %q", tt.method, err, tt.wantErr)
			}
		})
	}
	if c.IsShutdown() {
		t.Fatal("service errors ended the connection")
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	c := connect(t, e.addr, e.opt)
	var resMD map[string]string
	ctx := client.WithMetadata(context.Background(), map[string]string{"player": "42", "zone": "eu"})
	ctx = client.WithResponseMetadata(ctx, &resMD)
	var got map[string]string
	if err := c.Call(ctx, "Arith.EchoMetadata", &testsvc.Args{}, &got); err != nil {
		t.Fatal(err)
	}
	if got["player"] != "42" || got["zone"] != "eu" {
		t.Fatalf("request metadata seen by the handler: %v", got)
	}
	if resMD["echo-player"] != "42" || resMD["echo-zone"] != "eu" {
		t.Fatalf("response metadata: %v", resMD)
	}
}

func TestOneway(t *testing.T) {
	e := newEnv(t)
	c := connect(t, e.addr, e.opt)
	for i := range 3 {
		if err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{A: i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for range 3 {
		seen[testsvc.Recv(t, e.a.Notified, "a oneway call").A] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		t.Fatalf("notifications %v, want 0, 1 and 2 (handlers run concurrently, in any order)", seen)
	}
}

// TestOnewayThenClose: a oneway call written just before Close still reaches the server
// (Close ends the stream after the data already written).
func TestOnewayThenClose(t *testing.T) {
	e := newEnv(t)
	c := client.NewClient(e.opt)
	if err := c.Connect("kcp", e.addr); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{A: 9}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testsvc.Recv(t, e.a.Notified, "the oneway call"); got.A != 9 {
		t.Fatalf("notification has A=%d", got.A)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	var rec recordingDial
	opt := e.opt
	opt.Dialers = map[string]client.DialFunc{"kcp": rec.wrap(briskkcp.Dial())}
	opt.Heartbeat = true
	opt.HeartbeatInterval = 5 * time.Millisecond
	opt.MaxWaitForHeartbeat = testsvc.Bound
	c := connect(t, e.addr, opt)
	const beats = 3
	testsvc.Eventually(t, "three answered heartbeats", func() bool { return len(rec.frames()) >= beats })
	for i, f := range rec.frames()[:beats] {
		if f[2] != 0xC0 {
			t.Fatalf("frame %d has flags 0x%02x, want a heartbeat answer (0xC0)", i, f[2])
		}
	}
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 3, B: 4}, &r); err != nil || r.C != 12 {
		t.Fatalf("call after heartbeats: %d, %v", r.C, err)
	}
}

func TestServerPush(t *testing.T) {
	e := newEnv(t)
	pushes := make(chan *protocol.Message, 4)
	opt := e.opt
	opt.PushChan = pushes
	c := connect(t, e.addr, opt)
	// A call makes sure the server has the connection before we look for it.
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	conns := e.s.ActiveClientConn()
	if len(conns) != 1 {
		t.Fatalf("%d server connections, want 1", len(conns))
	}
	if err := e.s.SendMessage(conns[0], "Game", "Tick", map[string]string{"n": "1"}, []byte("state")); err != nil {
		t.Fatal(err)
	}
	m := testsvc.Recv(t, pushes, "the push")
	if m.ServicePath != "Game" || m.ServiceMethod != "Tick" || m.Metadata["n"] != "1" || string(m.Payload) != "state" {
		t.Fatalf("push %s.%s %v %q", m.ServicePath, m.ServiceMethod, m.Metadata, m.Payload)
	}
}

func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	c := connect(t, e.addr, e.opt)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r testsvc.Reply
			if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: i, B: 3}, &r); err != nil {
				errs <- err
			} else if r.C != 3*i {
				errs <- fmt.Errorf("Mul(%d, 3) = %d", i, r.C)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestShutdown: calls in flight when Shutdown begins get their replies and Shutdown
// returns.
func TestShutdown(t *testing.T) {
	e := newEnv(t)
	c := connect(t, e.addr, e.opt)
	const n = 3
	calls := make([]*client.Call, n)
	for i := range n {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i, B: 2}, &testsvc.Reply{}, nil)
	}
	for range n {
		testsvc.Recv(t, e.a.Entered, "a call to enter its handler")
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- e.s.Shutdown(context.Background()) }()
	// Once a new call is refused as "shutting down", the connection is draining.
	testsvc.Eventually(t, "the server to drain", func() bool {
		var r testsvc.Reply
		err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, &r)
		return client.IsServiceError(err) && strings.Contains(err.Error(), "shutting down")
	})
	close(e.a.Release)
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, fmt.Sprintf("in-flight call %d", i))
		if done.Error != nil || done.Reply.(*testsvc.Reply).C != 2*i {
			t.Fatalf("in-flight call %d: %v, reply %+v", i, done.Error, done.Reply)
		}
	}
	if err := testsvc.Recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// KCP has no FIN: the client learns that the server is gone from its heartbeat only
	// (TestHeartbeatDetectsDeadServer).
}

// TestHeartbeatDetectsDeadServer: KCP cannot tell that the server closed; the client's
// heartbeat does, and ends the calls in flight with a transport error.
func TestHeartbeatDetectsDeadServer(t *testing.T) {
	e := newEnv(t)
	opt := e.opt
	opt.Heartbeat = true
	opt.HeartbeatInterval = 10 * time.Millisecond
	opt.MaxWaitForHeartbeat = 100 * time.Millisecond
	c := connect(t, e.addr, opt)
	call := c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 2}, &testsvc.Reply{}, nil)
	testsvc.Recv(t, e.a.Entered, "the call to enter its handler")
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if done := testsvc.Recv(t, call.Done, "the call to end"); !client.IsTransportError(done.Error) {
		t.Fatalf("call in flight at Close: %v, want a transport error", done.Error)
	}
}

func TestClientClose(t *testing.T) {
	e := newEnv(t)
	c := client.NewClient(e.opt)
	if err := c.Connect("kcp", e.addr); err != nil {
		t.Fatal(err)
	}
	call := c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 2}, &testsvc.Reply{}, nil)
	testsvc.Recv(t, e.a.Entered, "the call to enter its handler")
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if done := testsvc.Recv(t, call.Done, "the call to end"); !errors.Is(done.Error, client.ErrShutdown) {
		t.Fatalf("call in flight at Close: %v, want ErrShutdown", done.Error)
	}
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, &r); !errors.Is(err, client.ErrShutdown) {
		t.Fatalf("call after Close: %v, want ErrShutdown", err)
	}
}

// TestReadTimeoutDropsGoneClient: KCP cannot tell the server that a client closed; the
// server's read timeout does.
func TestReadTimeoutDropsGoneClient(t *testing.T) {
	e := newEnvWith(t, setup{srv: []server.Option{server.WithReadTimeout(100 * time.Millisecond)}})
	c := connect(t, e.addr, e.opt)
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 2}, &r); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.ActiveClientConn()); n != 1 {
		t.Fatalf("%d server connections, want 1", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the server to drop the connection", func() bool { return len(e.s.ActiveClientConn()) == 0 })
}

func TestDialFailures(t *testing.T) {
	srvTLS, cliTLS := tlsConfigs(t)
	plain := listen(t, nil)
	secure := listen(t, srvTLS)
	otherKey, err := kcpgo.NewAESBlockCrypt([]byte("fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr string
		tls  *tls.Config
		opts []briskkcp.Option
	}{
		{"closed port", freeUDPAddr(t), nil, nil},
		{"closed port, tls", freeUDPAddr(t), cliTLS, nil},
		{"wrong block key", plain.Addr().String(), nil, []briskkcp.Option{briskkcp.WithBlockCrypt(otherKey)}},
		{"tls client, plain server", plain.Addr().String(), cliTLS, nil},
		{"plain client, tls server", secure.Addr().String(), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := client.DefaultOption
			opt.TLSConfig = tt.tls
			opt.Dialers = map[string]client.DialFunc{"kcp": briskkcp.Dial(tt.opts...)}
			c := client.NewClient(opt)
			defer c.Close()
			const limit = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			err := c.ConnectContext(ctx, "kcp", tt.addr)
			var te *client.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("Connect: %v, want a *client.TransportError", err)
			}
			if elapsed := time.Since(start); elapsed > limit+time.Second {
				t.Fatalf("Connect took %v with a %v deadline", elapsed, limit)
			}
		})
	}
}

// TestWithoutProbe: without the probe a dial succeeds at once, server or not (KCP has no
// handshake); calls then fail at their deadline.
func TestWithoutProbe(t *testing.T) {
	opt := client.DefaultOption
	opt.Dialers = map[string]client.DialFunc{"kcp": briskkcp.Dial(briskkcp.WithoutProbe())}
	c := connect(t, freeUDPAddr(t), opt)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{}, &r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to nobody: %v, want DeadlineExceeded", err)
	}
	// And with a server there, it works.
	e := newEnv(t)
	c = connect(t, e.addr, opt)
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 4, B: 5}, &r); err != nil || r.C != 20 {
		t.Fatalf("Mul: %d, %v", r.C, err)
	}
}

// TestServe: the documented setup, Serve("kcp", addr) with WithListenFunc.
func TestServe(t *testing.T) {
	s := server.NewServer(server.WithListenFunc("kcp", briskkcp.Listen()))
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	addr := freeUDPAddr(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve("kcp", addr) }()
	testsvc.Eventually(t, "the server to listen", func() bool { return len(s.Addresses()) == 1 })
	opt := client.DefaultOption
	opt.Dialers = map[string]client.DialFunc{"kcp": briskkcp.Dial()}
	c := connect(t, addr, opt)
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &r); err != nil || r.C != 42 {
		t.Fatalf("Mul: %d, %v", r.C, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, served, "Serve to return"); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestXClientPeer2Peer(t *testing.T) {
	e := newEnv(t)
	d, err := discovery.NewPeer2Peer("kcp@"+e.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	x := client.NewXClient("Arith", client.Failfast, client.RandomSelect, d, e.opt)
	defer x.Close()
	for i := range 3 {
		var r testsvc.Reply
		if err := x.Call(context.Background(), "Mul", &testsvc.Args{A: i, B: 5}, &r); err != nil || r.C != 5*i {
			t.Fatalf("XClient Mul(%d, 5): %d, %v", i, r.C, err)
		}
	}
}

// TestListenerSlowPeer: with TLS, a peer that never finishes its handshake does not hold up
// Accept for the others; Close ends it.
func TestListenerSlowPeer(t *testing.T) {
	srvTLS, cliTLS := tlsConfigs(t)
	ln := listen(t, srvTLS)
	slow, err := kcpgo.DialWithOptions(ln.Addr().String(), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte{0x16, 0x03, 0x01}); err != nil { // the start of a TLS record
		t.Fatal(err)
	}

	accepted := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 5)
			_, err = io.ReadFull(nc, buf)
			if err == nil && string(buf) != "hello" {
				err = fmt.Errorf("read %q", buf)
			}
			_ = nc.Close()
		}
		accepted <- err
	}()
	opt := client.DefaultOption
	opt.TLSConfig = cliTLS
	nc, err := briskkcp.Dial()(context.Background(), "kcp", ln.Addr().String(), &opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, accepted, "Accept"); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}
