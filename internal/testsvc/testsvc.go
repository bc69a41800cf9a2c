// Package testsvc holds what the server and client tests share: an Arith service whose
// handlers can be observed and held through channels, helpers that start a server on
// loopback and connect clients to it, raw frame helpers and a connection that records the
// bytes it carries.
package testsvc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Bound is how long a test waits for something that should happen at once before it
// declares a hang. It is generous so a loaded CI machine running -race never trips it.
const Bound = 5 * time.Second

// Args are Arith's arguments.
type Args struct {
	A int
	B int
}

// Reply is Arith's result.
type Reply struct {
	C int
}

// SleepArgs says how long Sleep sleeps.
type SleepArgs struct {
	Millis int
}

// DeadlineInfo is what Arith.Deadline saw of its context.
type DeadlineInfo struct {
	HasDeadline bool
	Remaining   time.Duration
	Timeout     string // the __ServerTimeout request metadata
}

// Arith is the test service. Its channels are buffered (see NewArith) so a handler never
// blocks on a test that does not read them.
type Arith struct {
	// Entered receives the args of every Block and Deadline call once the handler runs.
	Entered chan Args
	// Release lets Block calls finish: send one value per call, or close it.
	Release chan struct{}
	// Notified receives the args of every Notify call.
	Notified chan Args
	// CtxErr receives ctx.Err() of a Block or Deadline call whose context ended.
	CtxErr chan error
	// Deadlines receives what Deadline saw.
	Deadlines chan DeadlineInfo
}

// NewArith returns an Arith with buffered channels.
func NewArith() *Arith {
	return &Arith{
		Entered:   make(chan Args, 1024),
		Release:   make(chan struct{}),
		Notified:  make(chan Args, 1024),
		CtxErr:    make(chan error, 1024),
		Deadlines: make(chan DeadlineInfo, 1024),
	}
}

// Mul sets C = A * B.
func (t *Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// Div sets C = A / B and fails when B is 0.
func (t *Arith) Div(ctx context.Context, args Args, reply *Reply) error {
	if args.B == 0 {
		return errors.New("divide by zero")
	}
	reply.C = args.A / args.B
	return nil
}

// Sleep waits Millis milliseconds or until its context ends.
func (t *Arith) Sleep(ctx context.Context, args *SleepArgs, reply *Reply) error {
	timer := time.NewTimer(time.Duration(args.Millis) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		reply.C = args.Millis
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Panic panics with "boom: " and A.
func (t *Arith) Panic(ctx context.Context, args *Args, reply *Reply) error {
	panic(fmt.Sprintf("boom: %d", args.A))
}

// Block reports on Entered, then waits for Release (and sets C = A * B) or for its context
// to end (and reports ctx.Err() on CtxErr).
func (t *Arith) Block(ctx context.Context, args *Args, reply *Reply) error {
	t.Entered <- *args
	select {
	case <-t.Release:
		reply.C = args.A * args.B
		return nil
	case <-ctx.Done():
		t.CtxErr <- ctx.Err()
		return ctx.Err()
	}
}

// Notify reports its args on Notified; it is meant to be called oneway.
func (t *Arith) Notify(ctx context.Context, args *Args, reply *Reply) error {
	t.Notified <- *args
	return nil
}

// Deadline reports whether its context has a deadline on Deadlines, then waits for the
// context to end and reports ctx.Err() on CtxErr.
func (t *Arith) Deadline(ctx context.Context, args *Args, reply *DeadlineInfo) error {
	d, ok := ctx.Deadline()
	info := DeadlineInfo{HasDeadline: ok, Timeout: server.RequestMetadata(ctx)[protocol.ServerTimeout]}
	if ok {
		info.Remaining = time.Until(d)
	}
	t.Deadlines <- info
	*reply = info
	<-ctx.Done()
	t.CtxErr <- ctx.Err()
	return ctx.Err()
}

// EchoMetadata returns the request metadata and sets each pair, its key prefixed with
// "echo-", as response metadata.
func (t *Arith) EchoMetadata(ctx context.Context, args *Args, reply *map[string]string) error {
	md := server.RequestMetadata(ctx)
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = v
		server.SetResponseMetadata(ctx, "echo-"+k, v)
	}
	*reply = out
	return nil
}

// Listen returns a loopback TCP listener on a free port.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

// Serve serves s on a new loopback listener and returns its address. At cleanup it closes s
// and checks that ServeListener returned ErrServerClosed.
func Serve(t testing.TB, s *server.Server) string {
	t.Helper()
	ln := Listen(t)
	ServeOn(t, s, ln)
	return ln.Addr().String()
}

// ServeOn serves s on ln until cleanup, as Serve does.
func ServeOn(t testing.TB, s *server.Server, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("ServeListener returned %v, want ErrServerClosed", err)
			}
		case <-time.After(Bound):
			t.Errorf("ServeListener did not return after Close")
		}
	})
}

// NewArithServer returns a server with a fresh Arith registered as "Arith", served on
// loopback, and its address.
func NewArithServer(t testing.TB, opts ...server.Option) (*server.Server, *Arith, string) {
	t.Helper()
	s := server.NewServer(opts...)
	a := NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatalf("register: %v", err)
	}
	return s, a, Serve(t, s)
}

// Connect dials addr over TCP and closes the client at cleanup.
func Connect(t testing.TB, addr string, opt client.Option) *client.Client {
	t.Helper()
	return ConnectOn(t, "tcp", addr, opt)
}

// ConnectOn dials addr on network (a built-in or one of opt.Dialers) and closes the client
// at cleanup.
func ConnectOn(t testing.TB, network, addr string, opt client.Option) *client.Client {
	t.Helper()
	c := client.NewClient(opt)
	if err := c.Connect(network, addr); err != nil {
		t.Fatalf("connect %s@%s: %v", network, addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// FreeUDPAddr returns a loopback UDP address nothing listens on.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// Dial opens a raw TCP connection to addr, closed at cleanup, with a read/write deadline of
// Bound so a test that expects an answer never hangs.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(Bound))
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// Eventually polls cond until it holds or Bound passes. Use it only to observe an effect
// outside the test's control (a socket closing, a goroutine in another package ending).
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Recv receives from ch or fails the test after Bound.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// ReadFrame reads one whole frame, its 16-byte prefix included, from r.
func ReadFrame(r io.Reader) ([]byte, error) {
	prefix := make([]byte, protocol.HeaderSize)
	if _, err := io.ReadFull(r, prefix); err != nil {
		return nil, err
	}
	total := binary.BigEndian.Uint32(prefix[12:])
	frame := make([]byte, protocol.HeaderSize+int(total))
	copy(frame, prefix)
	if _, err := io.ReadFull(r, frame[protocol.HeaderSize:]); err != nil {
		return nil, err
	}
	return frame, nil
}

// DecodeFrame parses a whole frame.
func DecodeFrame(t testing.TB, frame []byte) *protocol.Message {
	t.Helper()
	m := protocol.NewMessage()
	if err := m.DecodeBytes(frame, 0); err != nil {
		t.Fatalf("decode frame % x: %v", frame, err)
	}
	return m
}

// SplitFrames splits a byte stream into its complete frames, ignoring a trailing partial one.
func SplitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= protocol.HeaderSize {
		n := protocol.HeaderSize + int(binary.BigEndian.Uint32(b[12:]))
		if len(b) < n {
			break
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// RecordingConn is a net.Conn that keeps a copy of every byte written and read.
type RecordingConn struct {
	net.Conn
	mu      sync.Mutex
	written []byte
	read    []byte
}

// Write records and writes p.
func (c *RecordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written = append(c.written, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// Read reads and records.
func (c *RecordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// Written returns the complete frames written so far.
func (c *RecordingConn) Written() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SplitFrames(append([]byte(nil), c.written...))
}

// ReadFrames returns the complete frames read so far.
func (c *RecordingConn) ReadFrames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SplitFrames(append([]byte(nil), c.read...))
}

// ConnectRecording dials addr over TCP, wraps the connection in a RecordingConn and starts a
// client over it, closed at cleanup.
func ConnectRecording(t testing.TB, addr string, opt client.Option) (*client.Client, *RecordingConn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	rc := &RecordingConn{Conn: nc}
	c := client.NewClient(opt)
	if err := c.ConnectConn(rc); err != nil {
		t.Fatalf("ConnectConn: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, rc
}

// ThriftText is a hand-written Thrift struct with one string field (id 1), for exercising
// the Thrift codec without generated code.
type ThriftText struct {
	Text string
}

// Write encodes the struct.
func (s *ThriftText) Write(ctx context.Context, p thrift.TProtocol) error {
	if err := p.WriteStructBegin(ctx, "ThriftText"); err != nil {
		return err
	}
	if err := p.WriteFieldBegin(ctx, "text", thrift.STRING, 1); err != nil {
		return err
	}
	if err := p.WriteString(ctx, s.Text); err != nil {
		return err
	}
	if err := p.WriteFieldEnd(ctx); err != nil {
		return err
	}
	if err := p.WriteFieldStop(ctx); err != nil {
		return err
	}
	return p.WriteStructEnd(ctx)
}

// Read decodes the struct, skipping unknown fields.
func (s *ThriftText) Read(ctx context.Context, p thrift.TProtocol) error {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, typ, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if typ == thrift.STOP {
			break
		}
		if id == 1 && typ == thrift.STRING {
			if s.Text, err = p.ReadString(ctx); err != nil {
				return err
			}
		} else if err := p.Skip(ctx, typ); err != nil {
			return err
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
	return p.ReadStructEnd(ctx)
}

// The annotated request of PROTOCOL.md and rpcx's answer to it, byte for byte.
var (
	// GoldenRequest is Arith.Mul, JSON, seq 42, metadata {k: v}, payload {"A":11,"B":12}.
	GoldenRequest = concat(
		[]byte{0x08, 0x00, 0x00, 0x10},    // magic, version, flags = request, serialize = JSON
		[]byte{0, 0, 0, 0, 0, 0, 0, 0x2a}, // seq 42
		[]byte{0, 0, 0, 0x31},             // total 49
		[]byte{0, 0, 0, 5}, []byte("Arith"),
		[]byte{0, 0, 0, 3}, []byte("Mul"),
		[]byte{0, 0, 0, 0x0a, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v'}, // metadata block, 10 bytes
		[]byte{0, 0, 0, 0x0f}, []byte(`{"A":11,"B":12}`),
	)
	// GoldenResponse is the answer: flags 0x80, same seq, path and method echoed, no
	// metadata, payload {"C":132}.
	GoldenResponse = concat(
		[]byte{0x08, 0x00, 0x80, 0x10},
		[]byte{0, 0, 0, 0, 0, 0, 0, 0x2a},
		[]byte{0, 0, 0, 0x21}, // total 33
		[]byte{0, 0, 0, 5}, []byte("Arith"),
		[]byte{0, 0, 0, 3}, []byte("Mul"),
		[]byte{0, 0, 0, 0},
		[]byte{0, 0, 0, 9}, []byte(`{"C":132}`),
	)
)

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
