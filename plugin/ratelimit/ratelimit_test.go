package ratelimit_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/plugin/ratelimit"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// never refills within a test.
var never = rate.Every(time.Hour)

// counter is an inner middleware that counts the requests reaching the method, per
// service and method.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func newCounter() *counter { return &counter{runs: map[string]int{}} }

func (c *counter) middleware(next server.Handler) server.Handler {
	return func(ctx context.Context, inv *server.Invocation) error {
		c.mu.Lock()
		c.runs[inv.ServicePath+"."+inv.ServiceMethod]++
		c.mu.Unlock()
		return next(ctx, inv)
	}
}

func (c *counter) get(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[m]
}

// load makes n calls of method from workers goroutines over c and counts the successes and
// the rate-limit refusals; any other error fails the test.
func load(t *testing.T, c *client.Client, method string, n, workers int) (ok, limited int) {
	t.Helper()
	var okN, limN atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	errs := make(chan error, n)
	for range workers {
		wg.Go(func() {
			for range next {
				var r testsvc.Reply
				err := c.Call(context.Background(), method, &testsvc.Args{A: 2, B: 3}, &r)
				switch {
				case err == nil:
					okN.Add(1)
				case client.IsRefused(err) && strings.HasPrefix(err.Error(), protocol.TextRateLimited):
					limN.Add(1)
				default:
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%s: unexpected error %v", method, err)
	}
	return int(okN.Load()), int(limN.Load())
}

func newServer(t *testing.T, rl *ratelimit.Limiter, cnt *counter) string {
	t.Helper()
	s := server.NewServer(server.WithMiddleware(rl.Middleware(), cnt.middleware))
	a := testsvc.NewArith()
	for _, name := range []string{"Arith", "Arith2"} {
		if err := s.RegisterName(name, a, ""); err != nil {
			t.Fatal(err)
		}
	}
	return testsvc.Serve(t, s)
}

func TestServerBucketUnderLoad(t *testing.T) {
	rl := ratelimit.New(ratelimit.Server(never, 10))
	cnt := newCounter()
	c := testsvc.Connect(t, newServer(t, rl, cnt), client.DefaultOption)
	start := time.Now()
	ok, limited := load(t, c, "Arith.Mul", 100, 16)
	t.Logf("100 calls from 16 goroutines in %v", time.Since(start))
	if ok != 10 || limited != 90 || cnt.get("Arith.Mul") != 10 || rl.Rejected() != 90 {
		t.Fatalf("ok %d, limited %d, handler ran %d, Rejected %d; want 10, 90, 10, 90",
			ok, limited, cnt.get("Arith.Mul"), rl.Rejected())
	}
}

func TestBucketsAreIndependent(t *testing.T) {
	rl := ratelimit.New(
		ratelimit.Method("Arith", "Mul", never, 5),
		ratelimit.Method("Arith", "Div", never, 3),
		ratelimit.Method("Arith", "Panic", rate.Inf, 0), // no limit
	)
	cnt := newCounter()
	c := testsvc.Connect(t, newServer(t, rl, cnt), client.DefaultOption)
	tests := []struct {
		method string
		ok     int
	}{
		{"Arith.Mul", 5},
		{"Arith.Div", 3},
		{"Arith2.Mul", 40}, // another service: no bucket
	}
	for _, tt := range tests {
		ok, limited := load(t, c, tt.method, 40, 8)
		if ok != tt.ok || limited != 40-tt.ok || cnt.get(tt.method) != tt.ok {
			t.Errorf("%s: ok %d, limited %d, handler ran %d; want %d, %d, %d",
				tt.method, ok, limited, cnt.get(tt.method), tt.ok, 40-tt.ok, tt.ok)
		}
	}
}

// TestAllOrNothing: a request refused by one bucket takes no token from the others.
func TestAllOrNothing(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Millisecond} {
		rl := ratelimit.New(
			ratelimit.Service("Arith", never, 5),
			ratelimit.Server(never, 8),
			ratelimit.Wait(wait),
		)
		cnt := newCounter()
		c := testsvc.Connect(t, newServer(t, rl, cnt), client.DefaultOption)
		if ok, _ := load(t, c, "Arith.Mul", 30, 4); ok != 5 {
			t.Fatalf("wait %v: Arith: %d ok, want 5 (service bucket)", wait, ok)
		}
		if ok, _ := load(t, c, "Arith2.Mul", 30, 4); ok != 3 {
			t.Fatalf("wait %v: Arith2: %d ok, want 3 (the server bucket's rest: refused Arith calls took nothing)", wait, ok)
		}
		var r testsvc.Reply
		err := c.Call(context.Background(), "Arith2.Mul", &testsvc.Args{}, &r)
		if !strings.Contains(err.Error(), "(server)") {
			t.Fatalf("wait %v: refusal %q does not name the server bucket", wait, err)
		}
	}
}

// dialFrom returns a client whose connections come from the loopback address ip.
func dialFrom(t *testing.T, addr, ip string) *client.Client {
	t.Helper()
	opt := client.DefaultOption
	opt.Dialers = map[string]client.DialFunc{"tcp": func(ctx context.Context, network, address string, _ *client.Option) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.DialContext(ctx, "tcp4", address)
	}}
	return testsvc.Connect(t, addr, opt)
}

func TestPerClientAddress(t *testing.T) {
	rl := ratelimit.New(ratelimit.PerClient(never, 4, 100))
	cnt := newCounter()
	addr := newServer(t, rl, cnt)
	// Two connections from 127.0.0.1 share its bucket; 127.0.0.2 and .3 have their own.
	tests := []struct {
		ip string
		ok int
	}{
		{"127.0.0.1", 4},
		{"127.0.0.1", 0},
		{"127.0.0.2", 4},
		{"127.0.0.3", 4},
	}
	for _, tt := range tests {
		c := dialFrom(t, addr, tt.ip)
		if ok, limited := load(t, c, "Arith.Mul", 20, 4); ok != tt.ok || limited != 20-tt.ok {
			t.Errorf("client %s: ok %d, limited %d; want %d, %d", tt.ip, ok, limited, tt.ok, 20-tt.ok)
		}
	}
	if got := rl.Clients(); got != 3 {
		t.Errorf("Clients() = %d, want 3", got)
	}
	if got := cnt.get("Arith.Mul"); got != 12 {
		t.Errorf("handler ran %d times, want 12", got)
	}
}

// invoke runs the Limiter's middleware alone for a request from addr.
func invoke(ctx context.Context, rl *ratelimit.Limiter, addr net.Addr) error {
	h := rl.Middleware()(func(context.Context, *server.Invocation) error { return nil })
	return h(ctx, &server.Invocation{ServicePath: "Arith", ServiceMethod: "Mul", RemoteAddr: addr})
}

func tcpAddr(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000} }

func TestClientBucketsAreBounded(t *testing.T) {
	rl := ratelimit.New(ratelimit.PerClient(never, 1, 2))
	ctx := context.Background()
	a, b, c := tcpAddr("10.0.0.1"), tcpAddr("10.0.0.2"), tcpAddr("::ffff:10.0.0.3")
	steps := []struct {
		addr net.Addr
		ok   bool
	}{
		{a, true}, {a, false}, {b, true}, {b, false},
		{a, false}, // a becomes the most recently used
		{c, true},  // evicts b
		{a, false}, // still remembered
		{b, true},  // b comes back with a full bucket, evicting c
		{tcpAddr("10.0.0.3"), true},
		{nil, true}, {nil, false}, // requests with no address share a bucket
	}
	for i, s := range steps {
		err := invoke(ctx, rl, s.addr)
		if (err == nil) != s.ok || (err != nil && !errors.Is(err, server.ErrRateLimited)) {
			t.Fatalf("step %d (%v): %v, want ok=%v", i, s.addr, err, s.ok)
		}
		if rl.Clients() > 2 {
			t.Fatalf("step %d: %d client buckets, bound 2", i, rl.Clients())
		}
	}
	big := ratelimit.New(ratelimit.PerClient(10, 10, 64))
	for i := range 10000 {
		_ = invoke(ctx, big, &net.TCPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 1})
	}
	if got := big.Clients(); got != 64 {
		t.Fatalf("10000 addresses: %d buckets, want the bound 64", got)
	}
}

func TestWait(t *testing.T) {
	every := 20 * time.Millisecond
	t.Run("waits within the bound", func(t *testing.T) {
		rl := ratelimit.New(ratelimit.Server(rate.Every(every), 1), ratelimit.Wait(time.Second))
		start := time.Now()
		for i := range 5 {
			if err := invoke(context.Background(), rl, nil); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if el := time.Since(start); el < 3*every {
			t.Fatalf("5 calls at one per %v took %v: they did not wait", every, el)
		}
		if rl.Rejected() != 0 {
			t.Fatalf("Rejected() = %d", rl.Rejected())
		}
	})
	t.Run("refuses at once beyond the bound", func(t *testing.T) {
		rl := ratelimit.New(ratelimit.Server(rate.Every(time.Hour), 1), ratelimit.Wait(time.Second))
		_ = invoke(context.Background(), rl, nil)
		start := time.Now()
		if err := invoke(context.Background(), rl, nil); !errors.Is(err, server.ErrRateLimited) {
			t.Fatalf("got %v, want ErrRateLimited", err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Fatalf("refusal took %v", el)
		}
	})
	t.Run("refuses at once beyond the deadline", func(t *testing.T) {
		rl := ratelimit.New(ratelimit.Server(rate.Every(time.Second), 1), ratelimit.Wait(time.Hour))
		_ = invoke(context.Background(), rl, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := invoke(ctx, rl, nil); !errors.Is(err, server.ErrRateLimited) {
			t.Fatalf("got %v, want ErrRateLimited", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the refusal waited for the deadline")
		}
	})
	t.Run("cancelled wait gives the token back", func(t *testing.T) {
		rl := ratelimit.New(ratelimit.Server(rate.Every(200*time.Millisecond), 1), ratelimit.Wait(time.Hour))
		_ = invoke(context.Background(), rl, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- invoke(ctx, rl, nil) }()
		cancel()
		if err := testsvc.Recv(t, done, "the cancelled wait"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		// The next token is due 200 ms after the first call, not 400.
		start := time.Now()
		if err := invoke(context.Background(), rl, nil); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 300*time.Millisecond {
			t.Fatalf("next call waited %v: the cancelled reservation kept its token", el)
		}
	})
}

// TestFailover: an XClient with Failover moves the calls one server refuses to the other.
func TestFailover(t *testing.T) {
	rlA := ratelimit.New(ratelimit.Server(never, 10))
	cntA, cntB := newCounter(), newCounter()
	addrA := newServer(t, rlA, cntA)
	addrB := newServer(t, ratelimit.New(), cntB)
	d, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@" + addrA}, {Key: "tcp@" + addrB}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var attempts, refused atomic.Int64
	opt := client.DefaultOption
	opt.RetryBudget = 1 // every call may be retried once
	opt.RetryBackoff = time.Millisecond
	opt.Middleware = []client.Middleware{func(next client.Invoker) client.Invoker {
		return func(ctx context.Context, inv *client.Invocation) error {
			attempts.Add(1)
			err := next(ctx, inv)
			if client.IsRefused(err) {
				refused.Add(1)
			}
			return err
		}
	}}
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, opt)
	defer x.Close()
	const n = 100
	for i := range n {
		var r testsvc.Reply
		if err := x.Call(context.Background(), "Mul", &testsvc.Args{A: i, B: 2}, &r); err != nil || r.C != 2*i {
			t.Fatalf("call %d: %d, %v", i, r.C, err)
		}
	}
	a, b := cntA.get("Arith.Mul"), cntB.get("Arith.Mul")
	t.Logf("A ran %d, B ran %d, %d attempts, %d refused", a, b, attempts.Load(), refused.Load())
	if a != 10 || b != n-10 {
		t.Fatalf("A ran %d, B ran %d; want 10 and %d", a, b, n-10)
	}
	if refused.Load() == 0 || uint64(refused.Load()) != rlA.Rejected() || attempts.Load() != n+refused.Load() {
		t.Fatalf("%d attempts, %d refused, A rejected %d: want attempts = %d + refused = %d + A's rejections",
			attempts.Load(), refused.Load(), rlA.Rejected(), n, n)
	}
}
