// Package conformance is the transport conformance suite: one set of behavioural tests
// (calls, errors, metadata, oneway, heartbeats, server push, concurrency, large payloads,
// server shutdown, client close, XClient addressing) that every transport must pass, run
// by each transport's tests with Run. It also makes throwaway certificates (NewCerts) for
// TLS and mutual TLS tests.
//
// A transport describes how a server listens on it and how a client dials it:
//
//	conformance.Run(t, conformance.Transport{
//		Name: "tcp",
//		Listen: func(t testing.TB, s *server.Server) (string, string) {
//			return "tcp", conformance.Serve(t, s, "tcp", "127.0.0.1:0")
//		},
//	})
//
// Every subtest makes its own server (Arith and Probe registered) and its own clients, so
// one failure does not cascade; every wait is bounded by testsvc.Bound.
package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Transport is what the suite needs to know of a transport.
type Transport struct {
	// Name names the transport in test output.
	Name string
	// ServerOptions are given to every server the suite makes (for example
	// server.WithTLSConfig or server.WithListenFunc), before the suite's own options.
	ServerOptions []server.Option
	// Listen starts serving s on the transport and returns the network and address a
	// client dials ("tcp", "127.0.0.1:4321"); network@address is also what the XClient
	// subtest puts in its discovery. Serving ends at t's cleanup (Serve and ServeListener
	// arrange that).
	Listen func(t testing.TB, s *server.Server) (network, address string)
	// Client, if set, adapts a client option to the transport: Dialers, TLSConfig.
	Client func(opt *client.Option)
	// Connectionless says that dialling a server that has gone away may still succeed (a
	// transport over UDP with no handshake): the suite then expects the first call on
	// such a connection to fail instead of the dial.
	Connectionless bool
	// SilentClose says that closing a connection tells the peer nothing (KCP has no FIN):
	// a peer learns of it only through heartbeats or a read timeout. Client should then
	// turn on Option.Heartbeat with short intervals, and ServerOptions should include
	// server.WithReadTimeout, so that both ends notice a close within testsvc.Bound. Such
	// a transport cannot refuse a dial to a stopped server either: the dial times out.
	SilentClose bool
}

// Serve serves s with s.Serve(network, address) until t's cleanup, waits until it
// listens and returns the address it listens on (the port chosen for ":0", the socket
// path for unix). At cleanup it closes s and checks that Serve returned ErrServerClosed.
func Serve(t testing.TB, s *server.Server, network, address string) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(network, address) }()
	var addr string
	testsvc.Eventually(t, "Serve("+network+") to listen", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Serve(%q, %q): %v", network, address, err)
		default:
		}
		if a := s.Addresses(); len(a) > 0 {
			addr = a[0].String()
			return true
		}
		return false
	})
	t.Cleanup(func() { stopServer(t, s, done) })
	return addr
}

// ServeListener serves s on ln until t's cleanup and returns ln's address; at cleanup it
// closes s and checks that ServeListener returned ErrServerClosed.
func ServeListener(t testing.TB, s *server.Server, ln net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ln) }()
	t.Cleanup(func() { stopServer(t, s, done) })
	return ln.Addr().String()
}

func stopServer(t testing.TB, s *server.Server, done <-chan error) {
	if err := s.Close(); err != nil {
		t.Errorf("server Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(testsvc.Bound):
		t.Errorf("Serve did not return after Close")
	}
}

// Blob carries bytes through Probe.Echo.
type Blob struct {
	Data []byte
}

// Probe is the suite's second service (registered as "Probe" next to testsvc's Arith).
type Probe struct {
	// Conns receives the connection of every Hello call, for Server.SendMessage.
	Conns chan net.Conn

	mu   sync.Mutex
	hits int
}

// NewProbe returns a Probe with a buffered Conns.
func NewProbe() *Probe { return &Probe{Conns: make(chan net.Conn, 64)} }

// Hello reports its connection on Conns and sets C = A + B.
func (p *Probe) Hello(ctx context.Context, args *testsvc.Args, reply *testsvc.Reply) error {
	p.hit()
	select {
	case p.Conns <- server.RemoteConn(ctx):
	default:
	}
	reply.C = args.A + args.B
	return nil
}

// Echo returns its argument.
func (p *Probe) Echo(ctx context.Context, args *Blob, reply *Blob) error {
	p.hit()
	reply.Data = args.Data
	return nil
}

// Hits returns how many Probe calls have run.
func (p *Probe) Hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

func (p *Probe) hit() {
	p.mu.Lock()
	p.hits++
	p.mu.Unlock()
}

// Run runs the conformance suite over tr, one subtest per behaviour.
func Run(t *testing.T, tr Transport) {
	t.Helper()
	if tr.Listen == nil {
		t.Fatalf("transport %q has no Listen", tr.Name)
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, tr Transport)
	}{
		{"calls", testCalls},
		{"service_error", testServiceError},
		{"unknown_method", testUnknown},
		{"metadata", testMetadata},
		{"oneway", testOneway},
		{"heartbeat", testHeartbeat},
		{"push", testPush},
		{"concurrency", testConcurrency},
		{"large_payload", testLargePayload},
		{"server_shutdown", testShutdown},
		{"client_close", testClientClose},
		{"xclient", testXClient},
		{"streams", testStreams},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, tr) })
	}
}

// env is one subtest's server.
type env struct {
	tr      Transport
	s       *server.Server
	arith   *testsvc.Arith
	probe   *Probe
	network string
	addr    string
}

func start(t *testing.T, tr Transport, opts ...server.Option) *env {
	t.Helper()
	e := &env{tr: tr, arith: testsvc.NewArith(), probe: NewProbe()}
	e.s = server.NewServer(append(append([]server.Option(nil), tr.ServerOptions...), opts...)...)
	if err := e.s.RegisterName("Arith", e.arith, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RegisterName("Probe", e.probe, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RegisterName("Streams", testsvc.NewStreams(), ""); err != nil {
		t.Fatal(err)
	}
	e.network, e.addr = tr.Listen(t, e.s)
	return e
}

// option is DefaultOption adapted to the transport.
func (e *env) option() client.Option {
	opt := client.DefaultOption
	if e.tr.Client != nil {
		e.tr.Client(&opt)
	}
	return opt
}

// connect dials the server with opt; the client is closed at cleanup.
func (e *env) connect(t *testing.T, opt client.Option) *client.Client {
	t.Helper()
	return testsvc.ConnectOn(t, e.network, e.addr, opt)
}

// ctx is a context that bounds one call.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	t.Cleanup(cancel)
	return c
}

func mul(t *testing.T, c *client.Client, a, b int) {
	t.Helper()
	var r testsvc.Reply
	if err := c.Call(ctx(t), "Arith.Mul", &testsvc.Args{A: a, B: b}, &r); err != nil || r.C != a*b {
		t.Fatalf("Arith.Mul(%d, %d) = %d, %v; want %d", a, b, r.C, err, a*b)
	}
}

func testCalls(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	for _, tc := range []struct {
		name   string
		method string
		args   any
		want   int
	}{
		{"pointer args to pointer handler", "Arith.Mul", &testsvc.Args{A: 7, B: 8}, 56},
		{"value args to pointer handler", "Arith.Mul", testsvc.Args{A: -3, B: 9}, -27},
		{"pointer args to value handler", "Arith.Div", &testsvc.Args{A: 12, B: 4}, 3},
		{"value args to value handler", "Arith.Div", testsvc.Args{A: 100, B: 7}, 14},
		{"zero args", "Arith.Mul", &testsvc.Args{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testsvc.Reply{C: -1}
			if err := c.Call(ctx(t), tc.method, tc.args, &r); err != nil {
				t.Fatalf("%s(%+v): %v", tc.method, tc.args, err)
			}
			if r.C != tc.want {
				t.Fatalf("%s(%+v) = %d, want %d", tc.method, tc.args, r.C, tc.want)
			}
		})
	}
}

func testServiceError(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	var r testsvc.Reply
	err := c.Call(ctx(t), "Arith.Div", &testsvc.Args{A: 1, B: 0}, &r)
	var se client.ServiceError
	if !errors.As(err, &se) || string(se) != "divide by zero" {
		t.Fatalf("Arith.Div by zero: %v (%T), want ServiceError \"divide by zero\"", err, err)
	}
	if client.IsTransportError(err) {
		t.Fatalf("a service error is also a transport error: %v", err)
	}
	// A service error leaves the connection working.
	if c.IsShutdown() {
		t.Fatal("the connection ended after a service error")
	}
	mul(t, c, 6, 7)
}

func testUnknown(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	for _, tc := range []struct {
		method string
		want   string
	}{
		{"Nope.Mul", "can't find service Nope"},
		{"Arith.Nope", "can't find method Nope"},
		{"arith.Mul", "can't find service arith"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			err := c.Call(ctx(t), tc.method, &testsvc.Args{A: 1, B: 2}, new(testsvc.Reply))
			var se client.ServiceError
			if !errors.As(err, &se) || !strings.Contains(string(se), tc.want) {
				t.Fatalf("%s: %v (%T), want a ServiceError containing %q", tc.method, err, err, tc.want)
			}
			mul(t, c, 2, 3)
		})
	}
	if err := c.Call(ctx(t), "NoDot", nil, new(testsvc.Reply)); !errors.Is(err, client.ErrBadMethodName) {
		t.Fatalf("call of \"NoDot\": %v, want ErrBadMethodName", err)
	}
}

func testMetadata(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	big := strings.Repeat("m", 8<<10)
	for _, tc := range []struct {
		name string
		md   map[string]string
	}{
		{"none", nil},
		{"two keys", map[string]string{"a": "1", "b": "two"}},
		{"odd bytes", map[string]string{"k=v&x": "é\x00\n", "empty": ""}},
		{"large value", map[string]string{"big": big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cx := ctx(t)
			if tc.md != nil {
				cx = client.WithMetadata(cx, tc.md)
			}
			var resMD map[string]string
			cx = client.WithResponseMetadata(cx, &resMD)
			var got map[string]string
			if err := c.Call(cx, "Arith.EchoMetadata", &testsvc.Args{}, &got); err != nil {
				t.Fatalf("EchoMetadata: %v", err)
			}
			delete(got, protocol.ServerTimeout) // the call's deadline travels as metadata too
			delete(resMD, "echo-"+protocol.ServerTimeout)
			if len(got) != len(tc.md) || len(resMD) != len(tc.md) {
				t.Fatalf("handler saw %d keys %v, response carried %d %v; want %d", len(got), got, len(resMD), resMD, len(tc.md))
			}
			for k, v := range tc.md {
				if got[k] != v {
					t.Fatalf("handler saw %q=%q, want %q", k, got[k], v)
				}
				if resMD["echo-"+k] != v {
					t.Fatalf("response metadata %q=%q, want %q", "echo-"+k, resMD["echo-"+k], v)
				}
			}
		})
	}
}

func testOneway(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	const n = 20
	for i := range n {
		if err := c.Call(ctx(t), "Arith.Notify", &testsvc.Args{A: i, B: -i}, nil); err != nil {
			t.Fatalf("oneway Notify %d: %v", i, err)
		}
	}
	seen := make(map[int]bool)
	for range n {
		a := testsvc.Recv(t, e.arith.Notified, "a oneway call to reach its handler")
		if a.B != -a.A || seen[a.A] || a.A < 0 || a.A >= n {
			t.Fatalf("Notify got %+v (seen before: %v)", a, seen[a.A])
		}
		seen[a.A] = true
	}
	// Oneway to a method that does not exist: nothing comes back, the connection stays.
	if err := c.Call(ctx(t), "Arith.Nope", &testsvc.Args{}, nil); err != nil {
		t.Fatalf("oneway to an unknown method: %v", err)
	}
	mul(t, c, 4, 5)
}

// probeConn is a client connection whose reads can be frozen (the server seems to stop
// answering) and which counts the heartbeat answers it reads.
type probeConn struct {
	net.Conn
	frozen    chan struct{}
	closed    chan struct{}
	freeze    sync.Once
	closeOnce sync.Once

	mu    sync.Mutex
	hdr   []byte
	skip  int
	beats int
}

func newProbeConn(nc net.Conn) *probeConn {
	return &probeConn{Conn: nc, frozen: make(chan struct{}), closed: make(chan struct{})}
}

func (c *probeConn) Read(p []byte) (int, error) {
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	n, err := c.Conn.Read(p)
	select {
	case <-c.frozen:
		// A read that was waiting when Freeze came: what it got arrived too late.
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	c.scan(p[:n])
	return n, err
}

func (c *probeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Freeze makes every later Read wait for Close.
func (c *probeConn) Freeze() { c.freeze.Do(func() { close(c.frozen) }) }

// scan follows the frames in the byte stream, counting heartbeat responses.
func (c *probeConn) scan(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		if c.skip > 0 {
			n := min(c.skip, len(b))
			c.skip -= n
			b = b[n:]
			continue
		}
		n := min(protocol.HeaderSize-len(c.hdr), len(b))
		c.hdr = append(c.hdr, b[:n]...)
		b = b[n:]
		if len(c.hdr) == protocol.HeaderSize {
			if c.hdr[2]&0xC0 == 0xC0 { // response + heartbeat
				c.beats++
			}
			c.skip = int(binary.BigEndian.Uint32(c.hdr[12:]))
			c.hdr = c.hdr[:0]
		}
	}
}

func (c *probeConn) heartbeats() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beats
}

// builtinDialers mirrors the client's built-in dialer table.
var builtinDialers = map[string]client.DialFunc{
	"tcp": client.DialTCP, "tcp4": client.DialTCP, "tcp6": client.DialTCP, "unix": client.DialTCP,
	"http": client.DialHTTPConnect, "ws": client.DialWebSocket, "wss": client.DialWebSocket,
}

// wrapDialers replaces every dialer of opt (the transport's and the built-ins) with one
// that passes the connection through wrap.
func wrapDialers(opt *client.Option, wrap func(network string, nc net.Conn) net.Conn) {
	all := make(map[string]client.DialFunc)
	for k, v := range builtinDialers {
		all[k] = v
	}
	for k, v := range opt.Dialers {
		all[k] = v
	}
	opt.Dialers = make(map[string]client.DialFunc, len(all))
	for network, dial := range all {
		opt.Dialers[network] = func(ctx context.Context, n, address string, o *client.Option) (net.Conn, error) {
			nc, err := dial(ctx, n, address, o)
			if err != nil {
				return nil, err
			}
			return wrap(network, nc), nil
		}
	}
}

// probedOption returns opt with dialers that hand each connection to conns as a probeConn.
func probedOption(opt client.Option, conns chan<- *probeConn) client.Option {
	wrapDialers(&opt, func(_ string, nc net.Conn) net.Conn {
		pc := newProbeConn(nc)
		conns <- pc
		return pc
	})
	return opt
}

func testHeartbeat(t *testing.T, tr Transport) {
	const readTimeout = 300 * time.Millisecond
	e := start(t, tr, server.WithReadTimeout(readTimeout))

	t.Run("idle connection without heartbeats is closed by the server", func(t *testing.T) {
		// The control: without heartbeats the read timeout ends an idle connection.
		opt := e.option()
		opt.Heartbeat = false
		c := e.connect(t, opt)
		mul(t, c, 2, 2)
		testsvc.Eventually(t, "the server's read timeout to close the idle connection", func() bool {
			return len(e.s.ActiveClientConn()) == 0
		})
		if tr.SilentClose {
			return // the client cannot know
		}
		testsvc.Eventually(t, "the client to see the connection closed", c.IsShutdown)
		if err := c.Call(ctx(t), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply)); !client.IsTransportError(err) {
			t.Fatalf("call on the closed connection: %v, want a TransportError", err)
		}
	})

	t.Run("heartbeats keep an idle connection", func(t *testing.T) {
		conns := make(chan *probeConn, 1)
		opt := probedOption(e.option(), conns)
		opt.Heartbeat = true
		opt.HeartbeatInterval = 20 * time.Millisecond
		opt.MaxWaitForHeartbeat = testsvc.Bound
		began := time.Now()
		c := e.connect(t, opt)
		pc := testsvc.Recv(t, conns, "the dial")
		testsvc.Eventually(t, "heartbeats answered over three read timeouts", func() bool {
			return c.IsShutdown() || (pc.heartbeats() >= 5 && time.Since(began) > 3*readTimeout)
		})
		if c.IsShutdown() {
			t.Fatalf("the connection ended after %d answered heartbeats", pc.heartbeats())
		}
		mul(t, c, 3, 4)
	})

	t.Run("a server that stops answering is detected", func(t *testing.T) {
		conns := make(chan *probeConn, 1)
		opt := probedOption(e.option(), conns)
		opt.Heartbeat = true
		opt.HeartbeatInterval = 10 * time.Millisecond
		opt.MaxWaitForHeartbeat = 150 * time.Millisecond
		c := e.connect(t, opt)
		pc := testsvc.Recv(t, conns, "the dial")
		mul(t, c, 5, 6)
		pc.Freeze() // from now on nothing the server sends reaches the client
		call := c.Go(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, new(testsvc.Reply), nil)
		done := testsvc.Recv(t, call.Done, "the pending call to fail")
		var te *client.TransportError
		if !errors.As(done.Error, &te) || te.Op != "heartbeat" || !errors.Is(done.Error, client.ErrHeartbeatTimeout) {
			t.Fatalf("pending call: %v, want a heartbeat TransportError", done.Error)
		}
		if !c.IsShutdown() {
			t.Fatal("the connection is still considered alive")
		}
	})
}

func testPush(t *testing.T, tr Transport) {
	e := start(t, tr)
	pushes := make(chan *protocol.Message, 4) // small: the client waits for the reader
	opt := e.option()
	opt.PushChan = pushes
	c := e.connect(t, opt)
	var r testsvc.Reply
	if err := c.Call(ctx(t), "Probe.Hello", &testsvc.Args{A: 1, B: 2}, &r); err != nil || r.C != 3 {
		t.Fatalf("Probe.Hello: %d, %v", r.C, err)
	}
	nc := testsvc.Recv(t, e.probe.Conns, "the caller's connection")
	if nc == nil {
		t.Fatal("RemoteConn is nil in a handler")
	}
	const n = 200
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			s := strconv.Itoa(i)
			if err := e.s.SendMessage(nc, "Feed", "Tick", map[string]string{"i": s}, []byte(s)); err != nil {
				sent <- fmt.Errorf("SendMessage %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	for i := range n {
		m := testsvc.Recv(t, pushes, fmt.Sprintf("push %d", i))
		s := strconv.Itoa(i)
		if m.ServicePath != "Feed" || m.ServiceMethod != "Tick" || m.Metadata["i"] != s || string(m.Payload) != s {
			t.Fatalf("push %d: %s.%s %v %q", i, m.ServicePath, m.ServiceMethod, m.Metadata, m.Payload)
		}
		if m.MessageType() != protocol.Request || !m.IsOneway() || m.IsHeartbeat() {
			t.Fatalf("push %d has header % x", i, m.Header[:])
		}
	}
	if err := testsvc.Recv(t, sent, "the pushes to be sent"); err != nil {
		t.Fatal(err)
	}
	// Calls still work on the connection.
	mul(t, c, 8, 9)
}

func testConcurrency(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var r testsvc.Reply
			args := &testsvc.Args{A: i, B: i + 1}
			err := c.Call(context.Background(), "Arith.Mul", args, &r)
			if err == nil && r.C != i*(i+1) {
				err = fmt.Errorf("Mul(%d, %d) = %d", args.A, args.B, r.C)
			}
			errs <- err
		}()
	}
	for i := range n {
		if err := testsvc.Recv(t, errs, fmt.Sprintf("call %d of %d", i, n)); err != nil {
			t.Fatal(err)
		}
	}
}

func testLargePayload(t *testing.T, tr Transport) {
	e := start(t, tr)
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	text := bytes.Repeat([]byte("brisk conformance "), (1<<20)/18+1)[:1<<20]
	for _, tc := range []struct {
		name     string
		data     []byte
		compress protocol.CompressType
	}{
		{"1 MiB random", random, protocol.None},
		{"1 MiB text gzip", text, protocol.Gzip},
		{"4 MiB random", bytes.Repeat(random, 4), protocol.None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := e.option()
			opt.CompressType = tc.compress
			c := e.connect(t, opt)
			var got Blob
			if err := c.Call(ctx(t), "Probe.Echo", &Blob{Data: tc.data}, &got); err != nil {
				t.Fatalf("Echo of %d bytes: %v", len(tc.data), err)
			}
			if !bytes.Equal(got.Data, tc.data) {
				t.Fatalf("Echo returned %d bytes that differ from the %d sent", len(got.Data), len(tc.data))
			}
		})
	}
}

// dialFails checks that a new client cannot use the server at e any more, and that the dial
// is refused rather than left to time out, except on a SilentClose transport (KCP), which
// has no way to refuse.
func (e *env) dialFails(t *testing.T) {
	t.Helper()
	opt := e.option()
	opt.ConnectTimeout = time.Second
	c := client.NewClient(opt)
	defer c.Close()
	err := c.Connect(e.network, e.addr)
	if err == nil && e.tr.Connectionless {
		cx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = c.Call(cx, "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply))
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
	}
	if !client.IsTransportError(err) {
		t.Fatalf("new connection to a stopped server: %v (%T), want a TransportError", err, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		if !e.tr.SilentClose {
			t.Errorf("the dial to a stopped server was not refused; it timed out: %v", err)
		} else {
			t.Logf("the dial to a stopped server timed out, as %s cannot refuse it: %v", e.tr.Name, err)
		}
	}
}

func testShutdown(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	const n = 3
	calls := make([]*client.Call, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i, B: 10}, new(testsvc.Reply), nil)
	}
	for i := range n {
		testsvc.Recv(t, e.arith.Entered, fmt.Sprintf("handler %d to start", i))
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- e.s.Shutdown(context.Background()) }()

	// Once Shutdown has begun, the open connection refuses new calls with a service error.
	testsvc.Eventually(t, "the open connection to refuse new calls", func() bool {
		err := c.Call(ctx(t), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, new(testsvc.Reply))
		if err == nil {
			return false
		}
		if !client.IsServiceError(err) || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("call during Shutdown: %v (%T), want a shutting-down ServiceError", err, err)
		}
		return true
	})
	// and the listener is closed: a new connection fails.
	e.dialFails(t)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with calls in flight", err)
	default:
	}
	close(e.arith.Release)
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, fmt.Sprintf("in-flight call %d", i))
		if done.Error != nil || done.Reply.(*testsvc.Reply).C != 10*i {
			t.Fatalf("in-flight call %d: %v, reply %+v", i, done.Error, done.Reply)
		}
	}
	if err := testsvc.Recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	testsvc.Eventually(t, "the client to see the connection closed", c.IsShutdown)
	if err := c.Call(ctx(t), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply)); !client.IsTransportError(err) {
		t.Fatalf("call after Shutdown: %v (%T), want a TransportError", err, err)
	}
}

func testClientClose(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	mul(t, c, 2, 9)
	const n = 3
	calls := make([]*client.Call, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i}, new(testsvc.Reply), nil)
	}
	for i := range n {
		testsvc.Recv(t, e.arith.Entered, fmt.Sprintf("handler %d to start", i))
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := testsvc.Recv(t, closed, "Close to return"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, fmt.Sprintf("pending call %d to end", i))
		if !errors.Is(done.Error, client.ErrShutdown) {
			t.Fatalf("pending call %d: %v, want ErrShutdown", i, done.Error)
		}
	}
	if err := c.Call(ctx(t), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply)); !errors.Is(err, client.ErrShutdown) {
		t.Fatalf("call after Close: %v, want ErrShutdown", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The server sees the connection go: the handlers' contexts end.
	for i := range n {
		if err := testsvc.Recv(t, e.arith.CtxErr, fmt.Sprintf("handler %d to see the client leave", i)); !errors.Is(err, context.Canceled) {
			t.Fatalf("handler %d context: %v, want Canceled", i, err)
		}
	}
	testsvc.Eventually(t, "the server to drop the connection", func() bool { return len(e.s.ActiveClientConn()) == 0 })
}

func testXClient(t *testing.T, tr Transport) {
	e := start(t, tr)
	var mu sync.Mutex
	dials := make(map[string]int)
	opt := e.option()
	wrapDialers(&opt, func(network string, nc net.Conn) net.Conn {
		mu.Lock()
		dials[network]++
		mu.Unlock()
		return nc
	})
	opt.ConnsPerServer = 2

	key := e.network + "@" + e.addr
	d, err := discovery.NewPeer2Peer(key, "")
	if err != nil {
		t.Fatalf("NewPeer2Peer(%q): %v", key, err)
	}
	defer d.Close()
	xc := client.NewXClient("Arith", client.Failfast, client.RoundRobin, d, opt)
	defer xc.Close()
	for i := range 10 {
		var r testsvc.Reply
		if err := xc.Call(ctx(t), "Mul", &testsvc.Args{A: i, B: 3}, &r); err != nil || r.C != 3*i {
			t.Fatalf("XClient Mul(%d, 3) over %s = %d, %v", i, key, r.C, err)
		}
	}
	mu.Lock()
	got := fmt.Sprint(dials)
	ok := dials[e.network] >= 1 && len(dials) == 1
	mu.Unlock()
	if !ok {
		t.Fatalf("dials by network: %s; want only %q", got, e.network)
	}

	// A network no dialer knows is refused, not dialled as tcp.
	bogus, err := discovery.NewPeer2Peer("bogus-net@127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer bogus.Close()
	xb := client.NewXClient("Arith", client.Failfast, client.RoundRobin, bogus, opt)
	defer xb.Close()
	err = xb.Call(ctx(t), "Mul", &testsvc.Args{A: 1, B: 1}, new(testsvc.Reply))
	if !client.IsTransportError(err) || !errors.Is(err, client.ErrUnknownNetwork) {
		t.Fatalf("XClient over bogus-net@127.0.0.1:1: %v, want a TransportError wrapping ErrUnknownNetwork", err)
	}
}

// testStreams: the three stream patterns, side by side with calls, on one connection.
func testStreams(t *testing.T, tr Transport) {
	e := start(t, tr)
	c := e.connect(t, e.option())
	cx := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { // bidirectional: 1 MiB echoed in 16 KiB messages
		errs <- func() error {
			st, err := c.NewStream(cx, "Streams.Echo")
			if err != nil {
				return err
			}
			defer st.Close()
			data := bytes.Repeat([]byte("brisk"), 16<<10/5)
			go func() {
				for i := range 64 {
					if st.Send(&testsvc.Chunk{Seq: i, Data: data}) != nil {
						return
					}
				}
				_ = st.CloseSend()
			}()
			for i := range 64 {
				var got testsvc.Chunk
				if err := st.Recv(&got); err != nil || got.Seq != i || !bytes.Equal(got.Data, data) {
					return fmt.Errorf("echo %d: seq %d, %v", i, got.Seq, err)
				}
			}
			var got testsvc.Chunk
			if err := st.Recv(&got); err != io.EOF {
				return fmt.Errorf("echo end: %v", err)
			}
			return nil
		}()
	})
	wg.Go(func() { // client stream
		errs <- func() error {
			st, err := c.NewStream(cx, "Streams.Sum")
			if err != nil {
				return err
			}
			defer st.Close()
			for i := 1; i <= 100; i++ {
				if err := st.Send(i); err != nil {
					return err
				}
			}
			if err := st.CloseSend(); err != nil {
				return err
			}
			var sum int
			if err := st.Recv(&sum); err != nil || sum != 5050 {
				return fmt.Errorf("sum = %d, %v", sum, err)
			}
			return nil
		}()
	})
	wg.Go(func() { // server stream
		errs <- func() error {
			st, err := c.NewStream(cx, "Streams.Count")
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Send(1000); err != nil {
				return err
			}
			for i := range 1000 {
				var n int
				if err := st.Recv(&n); err != nil || n != i {
					return fmt.Errorf("count %d = %d, %v", i, n, err)
				}
			}
			var n int
			if err := st.Recv(&n); err != io.EOF {
				return fmt.Errorf("count end: %v", err)
			}
			return nil
		}()
	})
	for range 20 {
		mul(t, c, 6, 7)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
