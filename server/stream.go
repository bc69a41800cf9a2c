package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Stream is the server's side of a stream a client opened on a stream method, a method of
// the form
//
//	func (t *T) Name(ctx context.Context, st *server.Stream) error
//
// The method receives with Recv and sends with Send, in any pattern: a client stream (Recv
// until io.EOF, then return), a server stream (Send, then return) or both at once (Recv
// and Send may run on two goroutines). Returning ends the stream: a nil error ends it
// cleanly (the client's Recv returns io.EOF after the last message), an error reaches the
// client as a service error. Metadata set with SetResponseMetadata goes back with the end.
//
// Both directions are flow-controlled: Send waits while the client has not consumed what
// was sent (so a slow client slows the method, never the connection), and a client never
// makes the server hold more than a window of its messages. ctx ends when the client
// cancels the stream, when its connection closes, at the caller's deadline, or when the
// method returns.
type Stream struct {
	c        *conn
	id       uint64
	serial   protocol.SerializeType
	cdc      codec.Codec
	flow     *flow.Flow
	base     context.Context // the connection's context, cancelled when the stream ends
	cancel   context.CancelFunc
	ctx      context.Context // the method's context, set before it runs
	canceled atomic.Bool     // the client cancelled: it expects no end frame
}

// ErrStreamCanceled is what a stream method's Send and Recv return after the client
// cancelled the stream or its connection closed. It wraps context.Canceled.
var ErrStreamCanceled = fmt.Errorf("brisk: stream cancelled by the client: %w", context.Canceled)

// errStreamClosed ends the streams of a closing connection.
var errStreamClosed = fmt.Errorf("brisk: stream's connection closed: %w", ErrStreamCanceled)

var typeOfStream = reflect.TypeFor[*Stream]()

// Send encodes v with the stream's codec and sends it, waiting for flow-control credit.
func (st *Stream) Send(v any) error {
	bp := wire.GetBuffer()
	defer wire.PutBuffer(bp)
	payload, err := st.cdc.Encode((*bp)[:0], v)
	if err != nil {
		return fmt.Errorf("brisk: cannot encode stream message: %w", err)
	}
	*bp = payload
	if err := st.flow.Acquire(st.context(), flow.Cost(len(payload))); err != nil {
		return err
	}
	// The method's context ends on every end of the stream, and at its deadline.
	if err := flow.WaitWriter(st.context().Done(), st.c.w); err != nil {
		if ferr := st.flow.Err(); ferr != nil {
			return ferr
		}
		if cerr := st.context().Err(); cerr != nil {
			return cerr
		}
		return errStreamClosed
	}
	m := protocol.GetPooledMsg()
	defer protocol.FreeMsg(m)
	flow.Frame(m, protocol.Response, st.id, flow.KindMsg)
	m.SetSerializeType(st.serial)
	m.Payload = payload
	err = st.c.w.WriteMessage(m)
	m.Payload = nil
	if err != nil {
		return errStreamClosed
	}
	return nil
}

// Recv waits for the client's next message and decodes it into v. It returns io.EOF once
// the client has closed its side and every message it sent was received.
func (st *Stream) Recv(v any) error {
	m, grant, err := st.flow.Next(st.context())
	if err != nil {
		return err
	}
	defer protocol.FreeMsg(m)
	if grant > 0 {
		st.control(flow.KindWindow, grant)
	}
	cdc := st.cdc
	if m.SerializeType() != st.serial {
		if cdc, err = st.c.srv.codecs.Get(m.SerializeType()); err != nil {
			return fmt.Errorf("brisk: stream message: %w", err)
		}
	}
	if err := cdc.Decode(m.Payload, v); err != nil {
		return fmt.Errorf("brisk: cannot decode stream message: %w", err)
	}
	return nil
}

func (st *Stream) context() context.Context {
	if st.ctx != nil {
		return st.ctx
	}
	return st.base
}

// control sends a window frame (the only control frame a server sends but the end).
func (st *Stream) control(kind string, grant int64) {
	m := protocol.GetPooledMsg()
	defer protocol.FreeMsg(m)
	flow.Frame(m, protocol.Response, st.id, kind)
	var buf [4]byte
	m.Payload = flow.WindowPayload(buf[:0], grant)
	_ = st.c.w.WriteMessage(m) // a failed write closes the connection, which ends the stream
	m.Payload = nil
}

// abort ends the stream at once with err: Send and Recv return it and the method's context
// is cancelled.
func (st *Stream) abort(err error) {
	st.flow.Abort(err)
	st.cancel()
}

// streamFrame handles a frame of the stream protocol read by the connection's loop, which
// it never blocks. It takes ownership of m.
func (c *conn) streamFrame(m *protocol.Message) {
	if m.ServiceMethod == flow.KindOpen {
		c.openStream(m)
		return
	}
	c.streamMu.Lock()
	st := c.streams[m.Seq()]
	c.streamMu.Unlock()
	if st == nil {
		// The stream ended here while the frame was on its way: nothing to do.
		protocol.FreeMsg(m)
		return
	}
	switch m.ServiceMethod {
	case flow.KindMsg:
		if !st.flow.Deliver(m) {
			st.abort(flow.ErrViolated)
		}
		return // Deliver took m
	case flow.KindWindow:
		if n, ok := flow.ParseWindow(m.Payload); ok {
			st.flow.Grant(n)
		}
	case flow.KindEOF:
		st.flow.Finish(io.EOF)
	case flow.KindCancel:
		st.canceled.Store(true)
		st.abort(ErrStreamCanceled)
	}
	protocol.FreeMsg(m)
}

// openStream admits a stream like a request and runs its method on a goroutine of its own.
func (c *conn) openStream(m *protocol.Message) {
	s := c.srv
	c.received.Add(1)
	c.inflight.Add(1)
	n := c.running.Add(1)
	target := m.Metadata[flow.MethodKey]
	dot := strings.LastIndexByte(target, '.')
	var refuse string
	switch {
	case c.draining.Load():
		refuse = errTextShuttingDown
	case s.maxPerConn > 0 && n > s.maxPerConn:
		refuse = protocol.TextOverloaded
	case dot <= 0 || dot == len(target)-1:
		refuse = "brisk: bad request: stream open without a Service.Method"
	}
	cdc, err := s.codecs.Get(m.SerializeType())
	if refuse == "" && err != nil {
		refuse = "brisk: " + err.Error()
	}
	st := &Stream{c: c, id: m.Seq(), serial: m.SerializeType(), cdc: cdc, flow: flow.New(s.streamWindow, s.maxMessageSize)}
	c.streamMu.Lock()
	if refuse == "" {
		if c.streams[st.id] != nil {
			refuse = "brisk: bad request: stream id already open"
		} else {
			if c.streams == nil {
				c.streams = make(map[uint64]*Stream)
			}
			c.streams[st.id] = st
		}
	}
	c.streamMu.Unlock()
	if refuse != "" {
		c.running.Add(-1)
		replyFailure(streamExchange{st}, m, nil, refuse)
		c.finish(m)
		return
	}
	st.base, st.cancel = context.WithCancel(c.ctx)
	m.ServicePath, m.ServiceMethod = target[:dot], target[dot+1:]
	go c.runStream(st, m)
}

// runStream runs the stream's method through the middleware and sends its end.
func (c *conn) runStream(st *Stream, open *protocol.Message) {
	defer c.finish(open)
	if g := st.flow.InitialGrant(); g > 0 {
		st.control(flow.KindWindow, g)
	}
	c.srv.handle(st.base, streamExchange{st}, open)
	c.streamMu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	c.streamMu.Unlock()
	st.abort(errStreamEnded)
}

// errStreamEnded is what a method's leftover goroutines get from Send and Recv after it
// returned.
var errStreamEnded = errors.New("brisk: stream ended: its method returned")

// abortStreams ends every stream of a closing connection.
func (c *conn) abortStreams() {
	c.streamMu.Lock()
	streams := c.streams
	c.streams = nil
	c.streamMu.Unlock()
	for _, st := range streams {
		st.abort(errStreamClosed)
	}
}

// streamExchange turns a stream's response (its method's result) into the end frame.
type streamExchange struct{ st *Stream }

func (e streamExchange) respond(resp *protocol.Message) {
	if e.st.canceled.Load() {
		return // the client forgot the stream when it cancelled
	}
	resp.ServicePath, resp.ServiceMethod = protocol.StreamService, flow.KindEnd
	resp.Payload = nil
	resp.SetCompressType(protocol.None)
	_ = e.st.c.w.WriteMessage(resp)
}

func (e streamExchange) refused(err error) { e.st.c.refused(err) }

func (e streamExchange) netConn() net.Conn { return e.st.c.nc }

func (e streamExchange) remoteAddr() net.Addr { return e.st.c.nc.RemoteAddr() }

func (e streamExchange) ran() { e.st.c.ran() }

func (e streamExchange) stream() *Stream { return e.st }

// runStreamMethod is the end of the chain for a stream: find the stream method and run it.
func (s *Server) runStreamMethod(ctx context.Context, inv *Invocation) error {
	mt, err := s.lookup(inv.ServicePath, inv.ServiceMethod)
	if err != nil {
		return err
	}
	if !mt.stream {
		return fmt.Errorf("brisk: %s.%s is not a stream method: call it", inv.ServicePath, inv.ServiceMethod)
	}
	inv.stream.ctx = ctx
	err = mt.callStream(ctx, inv.stream)
	if ferr := inv.stream.flow.Err(); errors.Is(ferr, flow.ErrViolated) {
		err = ferr // the method saw its stream cancelled; the client needs to know why
	}
	if pe, ok := err.(*panicError); ok {
		s.logger.Error("brisk: stream method panicked", "service", inv.ServicePath, "method", inv.ServiceMethod,
			"panic", pe.value, "stack", string(pe.stack))
	}
	return err
}

// callStream runs a stream method, turning a panic into an error.
func (mt *methodType) callStream(ctx context.Context, st *Stream) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: stack()}
		}
	}()
	var out []reflect.Value
	if mt.rcvr.IsValid() {
		out = mt.fn.Call([]reflect.Value{mt.rcvr, reflect.ValueOf(ctx), reflect.ValueOf(st)})
	} else {
		out = mt.fn.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(st)})
	}
	if e := out[0].Interface(); e != nil {
		return e.(error)
	}
	return nil
}
