package server_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// recorder is a middleware that logs what it sees before and after the next handler.
type recorder struct {
	name string
	mu   *sync.Mutex
	log  *[]string
	seen *server.Invocation
}

func (r *recorder) middleware(next server.Handler) server.Handler {
	return func(ctx context.Context, inv *server.Invocation) error {
		r.mu.Lock()
		*r.log = append(*r.log, r.name+" before")
		r.mu.Unlock()
		err := next(ctx, inv)
		r.mu.Lock()
		*r.log = append(*r.log, r.name+" after")
		cp := *inv
		cp.Metadata = maps.Clone(inv.Metadata) // the request's map is reused after the call
		r.seen = &cp
		r.mu.Unlock()
		return err
	}
}

func TestMiddlewareOrderAndView(t *testing.T) {
	var mu sync.Mutex
	var log []string
	outer := &recorder{name: "outer", mu: &mu, log: &log}
	inner := &recorder{name: "inner", mu: &mu, log: &log}
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(outer.middleware, inner.middleware))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := client.WithMetadata(context.Background(), map[string]string{"k": "v"})
	var reply testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &reply); err != nil || reply.C != 42 {
		t.Fatalf("call: %v, %d", err, reply.C)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(log, ", "); got != "outer before, inner before, inner after, outer after" {
		t.Fatalf("order: %s", got)
	}
	inv := outer.seen
	if inv.ServicePath != "Arith" || inv.ServiceMethod != "Mul" || inv.Metadata["k"] != "v" || inv.Oneway {
		t.Fatalf("invocation %+v", inv)
	}
	if inv.RemoteAddr == nil || inv.PayloadSize == 0 || inv.ReplySize == 0 {
		t.Fatalf("remote %v, payload %d, reply %d bytes", inv.RemoteAddr, inv.PayloadSize, inv.ReplySize)
	}
}

// A middleware that refuses with ErrRateLimited keeps the method from running; the client
// sees a refused call that XClient retries on another server.
func TestMiddlewareRefusal(t *testing.T) {
	refuse := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			return server.ErrRateLimited
		}
	}
	refusing, refusedArith, refusingAddr := testsvc.NewArithServer(t, server.WithMiddleware(refuse))
	_ = refusing
	_, okArith, okAddr := testsvc.NewArithServer(t)

	c := testsvc.Connect(t, refusingAddr, client.DefaultOption)
	var reply testsvc.Reply
	err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{A: 1}, &reply)
	if !client.IsRefused(err) || !client.IsServiceError(err) {
		t.Fatalf("refused call: %v", err)
	}
	select {
	case <-refusedArith.Notified:
		t.Fatal("the method ran although the middleware refused the call")
	default:
	}

	d, err := discoveryOf(refusingAddr, okAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	opt := client.DefaultOption
	opt.Selector = preferFirst{key: "tcp@" + refusingAddr}
	x := client.NewXClient("Arith", client.Failover, client.SelectByUser, d, opt)
	defer x.Close()
	done := make(chan error, 1)
	go func() { done <- x.Call(context.Background(), "Notify", &testsvc.Args{A: 2}, &reply) }()
	if got := testsvc.Recv(t, okArith.Notified, "the retry on the other server"); got.A != 2 {
		t.Fatalf("notified %+v", got)
	}
	if err := testsvc.Recv(t, done, "the call"); err != nil {
		t.Fatalf("XClient call: %v", err)
	}
}

func TestConnHooks(t *testing.T) {
	var accepted, closed atomic.Int32
	refuse := atomic.Bool{}
	closedConns := make(chan net.Conn, 4)
	hooks := server.ConnHooks{
		Accepted: func(nc net.Conn) error {
			accepted.Add(1)
			if refuse.Load() {
				return errors.New("not you")
			}
			return nil
		},
		Closed: func(nc net.Conn) { closed.Add(1); closedConns <- nc },
	}
	_, _, addr := testsvc.NewArithServer(t, server.WithConnHooks(hooks))

	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", addr); err != nil {
		t.Fatal(err)
	}
	var reply testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 2}, &reply); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	testsvc.Recv(t, closedConns, "Closed for the first connection")

	refuse.Store(true)
	nc := testsvc.Dial(t, addr)
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("a refused connection stayed open")
	}
	// A refused connection was never accepted: no Closed for it.
	if a, c := accepted.Load(), closed.Load(); a != 2 || c != 1 {
		t.Fatalf("Accepted ran %d times, Closed %d; want 2 and 1", a, c)
	}
}

func TestMaxConcurrentRequestsPerConn(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t, server.WithMaxConcurrentRequestsPerConn(1))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	first := make(chan error, 1)
	go func() {
		var r testsvc.Reply
		first <- c.Call(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 1}, &r)
	}()
	testsvc.Recv(t, a.Entered, "the first call to run")
	var r testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &r); !client.IsRefused(err) {
		t.Fatalf("second concurrent call: %v, want a refusal", err)
	}
	a.Release <- struct{}{}
	if err := testsvc.Recv(t, first, "the first call"); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &r); err != nil {
		t.Fatalf("call after the first ended: %v", err)
	}
}

// The middleware chain is built once: a no-op middleware adds no allocation per call.
func TestMiddlewareAddsNoAllocations(t *testing.T) {
	noop := func(next server.Handler) server.Handler { return next }
	passThrough := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error { return next(ctx, inv) }
	}
	cnoop := func(next client.Invoker) client.Invoker {
		return func(ctx context.Context, inv *client.Invocation) error { return next(ctx, inv) }
	}
	measure := func(sopts []server.Option, copt client.Option) float64 {
		_, _, addr := testsvc.NewArithServer(t, sopts...)
		c := testsvc.Connect(t, addr, copt)
		var reply testsvc.Reply
		args := &testsvc.Args{A: 3, B: 4}
		call := func() {
			if err := c.Call(context.Background(), "Arith.Mul", args, &reply); err != nil {
				t.Fatal(err)
			}
		}
		call()
		return testing.AllocsPerRun(2000, call)
	}
	base := measure(nil, client.DefaultOption)
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{cnoop, cnoop}
	with := measure([]server.Option{server.WithMiddleware(noop, passThrough, passThrough)}, opt)
	// Building the chain per call would cost five closures; allow one allocation of noise
	// (the count includes every goroutine's allocations, the server's too).
	if with > base+1 {
		t.Fatalf("%.1f allocations per call with middleware, %.1f without", with, base)
	}
	t.Logf("allocations per call: %.1f without middleware, %.1f with five", base, with)
}

// discoveryOf lists the servers at addrs, in that order.
func discoveryOf(addrs ...string) (*discovery.MultipleServers, error) {
	var pairs []discovery.KVPair
	for _, a := range addrs {
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + a})
	}
	return discovery.NewMultipleServers(pairs)
}

// preferFirst picks the server with key while it is a candidate, any other after.
type preferFirst struct{ key string }

func (p preferFirst) Select(_ client.SelectInfo, c []*client.Endpoint) int {
	for i, e := range c {
		if e.Key == p.key {
			return i
		}
	}
	return 0
}

func TestNotFoundIsTyped(t *testing.T) {
	var got []error
	var mu sync.Mutex
	keep := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			err := next(ctx, inv)
			mu.Lock()
			got = append(got, err)
			mu.Unlock()
			return err
		}
	}
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(keep))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	var r testsvc.Reply
	for _, m := range []string{"Nope.Mul", "Arith.Nope"} {
		if err := c.Call(context.Background(), m, &testsvc.Args{}, &r); err == nil || !strings.HasPrefix(err.Error(), "brisk: can't find ") {
			t.Fatalf("%s: %v", m, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range got {
		if !errors.Is(err, server.ErrNotFound) {
			t.Errorf("%v does not wrap ErrNotFound", err)
		}
	}
}
