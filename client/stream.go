package client

import (
	"context"
	"errors"
	"io"
	"maps"
	"sync"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Stream is the client's side of a stream to a stream method (see server.Stream),
// multiplexed on the client's connection beside its calls and other streams.
//
//	st, err := c.NewStream(ctx, "Chat.Talk")
//	if err != nil { ... }
//	defer st.Close()
//	st.Send(&Line{Text: "hi"})
//	st.CloseSend()
//	for {
//		var l Line
//		if err := st.Recv(&l); err == io.EOF { break } else if err != nil { ... }
//	}
//
// One goroutine may Send (and CloseSend) while another Recvs. Both directions are
// flow-controlled: Send waits while the server has not consumed what was sent, and the
// client holds at most Option.StreamWindow bytes of the server's messages per stream.
//
// A stream ends when the server's method returns (Recv returns io.EOF after the last
// message, or the method's error as a ServiceError), when ctx ends (ctx's error), on Close
// (ErrStreamClosed) or when the connection fails (a *TransportError). Cancelling ctx or
// calling Close tells the server, whose method sees its context cancelled; a stream that
// is neither read to its end nor closed keeps the server's method waiting, so always
// Close it (or cancel its context).
type Stream struct {
	c      *Client
	w      *wire.Writer
	id     uint64
	serial protocol.SerializeType
	cdc    codec.Codec
	flow   *flow.Flow
	ctx    context.Context
	// release, if set, is called once when the stream ends (an XClient's server stays
	// connected while a stream to it is open).
	release     func()
	releaseOnce sync.Once

	mu        sync.Mutex
	trailer   map[string]string
	sendClose bool
	over      bool        // ended: no context watcher is needed
	stop      func() bool // stops the context watcher
}

// Errors of streams.
var (
	// ErrStreamClosed is what Send and Recv return after Close.
	ErrStreamClosed = errors.New("brisk: stream closed")
	// ErrSendClosed is what Send returns after CloseSend.
	ErrSendClosed = errors.New("brisk: stream send side closed")
)

// NewStream opens a stream to serviceMethod ("Service.Method"), which must be a stream
// method of the server. It does not wait for the server: an error of the open itself (an
// unknown method, a refused auth token) ends the stream, and the next Recv returns it.
// The context bounds the whole stream; its metadata (WithMetadata) and deadline go to the
// server with the open.
func (c *Client) NewStream(ctx context.Context, serviceMethod string) (*Stream, error) {
	return c.newStream(ctx, serviceMethod, nil)
}

func (c *Client) newStream(ctx context.Context, serviceMethod string, release func()) (*Stream, error) {
	path, method, err := splitMethod(serviceMethod)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.chain == nil {
		return c.openStream(ctx, path, method, release)
	}
	// Middleware sees the open (and may add metadata to it), like a call.
	inv := &Invocation{ServicePath: path, ServiceMethod: method, Stream: true, release: release}
	if ra := c.remote.Load(); ra != nil {
		inv.RemoteAddr = *ra
	}
	err = c.chain(ctx, inv)
	if err != nil {
		if inv.opened != nil {
			_ = inv.opened.Close() // a middleware failed the open after it happened
		}
		return nil, err
	}
	if inv.opened == nil {
		return nil, errors.New("brisk: a client middleware did not open the stream (it did not call next)")
	}
	return inv.opened, nil
}

// openStream opens a stream on the connection, past the middleware.
func (c *Client) openStream(ctx context.Context, path, method string, release func()) (*Stream, error) {
	cdc, err := c.opt.Codecs.Get(c.opt.SerializeType)
	if err != nil {
		return nil, err
	}
	st := &Stream{
		c:       c,
		serial:  c.opt.SerializeType,
		cdc:     cdc,
		flow:    flow.New(c.opt.StreamWindow, c.opt.MaxMessageSize),
		ctx:     ctx,
		release: release,
	}
	open := protocol.GetPooledMsg()
	defer protocol.FreeMsg(open)
	c.setMetadata(ctx, open)
	if open.Metadata == nil {
		open.Metadata = make(map[string]string, 1)
	}
	open.Metadata[flow.MethodKey] = path + "." + method
	open.SetSerializeType(st.serial)

	c.mu.Lock()
	if err := c.unusableLocked(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	st.id, st.w = c.seq, c.w
	c.seq++
	if c.streams == nil {
		c.streams = make(map[uint64]*Stream)
	}
	c.streams[st.id] = st
	c.mu.Unlock()

	flow.Frame(open, protocol.Request, st.id, flow.KindOpen)
	if err := st.w.WriteMessage(open); err != nil {
		c.forgetStream(st.id)
		return nil, &TransportError{Op: "write", Err: err}
	}
	if g := st.flow.InitialGrant(); g > 0 {
		st.control(flow.KindWindow, g)
	}
	st.mu.Lock()
	if !st.over {
		st.stop = context.AfterFunc(ctx, func() { st.abort(ctx.Err(), true, false) })
	}
	st.mu.Unlock()
	return st, nil
}

// Send encodes v with the client's codec and sends it, waiting for flow-control credit.
// After the server ended the stream it returns io.EOF: Recv then tells how it ended.
func (st *Stream) Send(v any) error {
	bp := wire.GetBuffer()
	defer wire.PutBuffer(bp)
	payload, err := st.cdc.Encode((*bp)[:0], v)
	if err != nil {
		return err
	}
	*bp = payload
	if err := st.flow.Acquire(st.ctx, flow.Cost(len(payload))); err != nil {
		return err
	}
	// The Flow's Done closes on every end of the stream: ctx's (through the watcher),
	// Close's and the connection's.
	if err := flow.WaitWriter(st.flow.Done(), st.w); err != nil {
		if ferr := st.flow.Err(); ferr != nil {
			return ferr
		}
		if cerr := st.ctx.Err(); cerr != nil {
			return cerr
		}
		return &TransportError{Op: "write", Err: err}
	}
	m := protocol.GetPooledMsg()
	defer protocol.FreeMsg(m)
	flow.Frame(m, protocol.Request, st.id, flow.KindMsg)
	m.SetSerializeType(st.serial)
	m.Payload = payload
	err = st.w.WriteMessage(m)
	m.Payload = nil
	if err != nil {
		return &TransportError{Op: "write", Err: err}
	}
	return nil
}

// CloseSend tells the server the client sends no more messages; the server's Recv returns
// io.EOF after the last one. The client may go on receiving.
func (st *Stream) CloseSend() error {
	st.mu.Lock()
	if st.sendClose {
		st.mu.Unlock()
		return nil
	}
	st.sendClose = true
	st.mu.Unlock()
	st.flow.StopSending(ErrSendClosed)
	if st.flow.Err() != nil {
		return nil // the stream is over; nothing to tell
	}
	return st.control(flow.KindEOF, 0)
}

// Recv waits for the server's next message and decodes it into v. It returns io.EOF once
// the server's method returned without error and every message it sent was received.
func (st *Stream) Recv(v any) error {
	m, grant, err := st.flow.Next(st.ctx)
	if err != nil {
		return err
	}
	defer protocol.FreeMsg(m)
	if grant > 0 {
		_ = st.control(flow.KindWindow, grant)
	}
	cdc := st.cdc
	if m.SerializeType() != st.serial {
		if cdc, err = st.c.opt.Codecs.Get(m.SerializeType()); err != nil {
			return err
		}
	}
	return cdc.Decode(m.Payload, v)
}

// Trailer returns the metadata the server's method set (server.SetResponseMetadata), once
// Recv has returned io.EOF or the method's error; nil before.
func (st *Stream) Trailer() map[string]string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.trailer
}

// Close ends the stream if it has not ended: the server's method sees its context
// cancelled, and Send and Recv return ErrStreamClosed. It is safe to call more than once,
// and after the stream ended.
func (st *Stream) Close() error {
	st.abort(ErrStreamClosed, true, false)
	return nil
}

// abort ends the stream at once with err, telling the server if tell is set and it still
// runs the stream. inLoop says the connection's read loop calls (see ended).
func (st *Stream) abort(err error, tell, inLoop bool) {
	live := st.c.forgetStream(st.id)
	if !st.flow.Abort(err) {
		return
	}
	st.ended(inLoop)
	if live && tell {
		m := protocol.GetPooledMsg()
		flow.Frame(m, protocol.Request, st.id, flow.KindCancel)
		// Async: Close and the context watcher must not wait for a busy connection.
		_ = st.w.WriteMessageAsync(m)
		protocol.FreeMsg(m)
	}
}

// control sends a frame without a message: a window grant (n bytes) or the half-close.
func (st *Stream) control(kind string, n int64) error {
	m := protocol.GetPooledMsg()
	defer protocol.FreeMsg(m)
	flow.Frame(m, protocol.Request, st.id, kind)
	var buf [4]byte
	if kind == flow.KindWindow {
		m.Payload = flow.WindowPayload(buf[:0], n)
	}
	err := st.w.WriteMessage(m)
	m.Payload = nil
	if err != nil {
		return &TransportError{Op: "write", Err: err}
	}
	return nil
}

// end records the server's end of the stream: err is io.EOF or the method's error.
func (st *Stream) end(err error, md map[string]string) {
	st.mu.Lock()
	if len(md) > 0 {
		st.trailer = maps.Clone(md)
		delete(st.trailer, protocol.ServiceError)
	}
	st.mu.Unlock()
	st.flow.StopSending(io.EOF)
	st.flow.Finish(err)
	st.ended(true)
}

// ended stops watching the context and releases what the stream held, once. The
// connection's read loop ends streams with inLoop set: the release then runs on a goroutine
// of its own, as it may close this very connection (an XClient's retired server), which
// waits for the read loop.
func (st *Stream) ended(inLoop bool) {
	st.releaseOnce.Do(func() {
		st.mu.Lock()
		st.over = true
		stop := st.stop
		st.mu.Unlock()
		if stop != nil {
			stop()
		}
		if st.release != nil {
			if inLoop {
				go st.release()
			} else {
				st.release()
			}
		}
	})
}

// forgetStream removes a stream from the connection's table; false if it was not there.
func (c *Client) forgetStream(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.streams[id]; ok {
		delete(c.streams, id)
		return true
	}
	return false
}

// streamFrame handles a stream frame from the server. It reports whether it kept msg.
func (c *Client) streamFrame(msg *protocol.Message) bool {
	id := msg.Seq()
	failed := msg.MessageStatusType() == protocol.Error
	c.mu.Lock()
	st := c.streams[id]
	if st != nil && (failed || msg.ServiceMethod == flow.KindEnd) {
		delete(c.streams, id) // the server forgot it
	}
	c.mu.Unlock()
	if st == nil {
		return false
	}
	switch {
	case failed:
		// The method's error, or the open refused (by an rpcx server too, which knows no
		// streams and answers with its unknown-service error).
		text := msg.Metadata[protocol.ServiceError]
		if text == "" {
			text = "brisk: server reported a stream error without a message"
		}
		st.end(ServiceError(text), msg.Metadata)
	case msg.ServiceMethod == flow.KindMsg:
		if !st.flow.Deliver(msg) {
			st.abort(flow.ErrViolated, true, true)
		}
		return true
	case msg.ServiceMethod == flow.KindWindow:
		if n, ok := flow.ParseWindow(msg.Payload); ok {
			st.flow.Grant(n)
		}
	case msg.ServiceMethod == flow.KindEnd:
		st.end(io.EOF, msg.Metadata)
	}
	return false
}

// abortStreams ends every stream of a failed connection with reason.
func (c *Client) abortStreams(streams map[uint64]*Stream, reason error) {
	for _, st := range streams {
		st.abort(reason, false, true)
	}
}
