// Package client calls brisk and rpcx services.
//
// A Client holds one multiplexed connection: any number of goroutines may call through it at
// once, their frames coalesced into few writes, their responses matched by sequence number.
//
//	c := client.NewClient(client.DefaultOption)
//	if err := c.Connect("tcp", "localhost:8972"); err != nil { ... }
//	defer c.Close()
//	var reply Reply
//	err := c.Call(ctx, "Arith.Mul", &Args{A: 7, B: 8}, &reply)
//
// Every call ends exactly once: with the reply, a ServiceError from the handler, a
// *TransportError when the connection fails, a *codec.Error, or the context's error.
package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Call is an asynchronous call made with Go.
type Call struct {
	ServicePath   string
	ServiceMethod string
	Args          any
	Reply         any
	// Error is set when the call ends: nil on success.
	Error error
	// Done receives the call when it ends.
	Done chan *Call

	seq       uint64
	unsent    bool            // the request was certainly not written
	ctx       context.Context // a Go call's context, if it can end
	resMD     *map[string]string
	stopAfter func() bool // stops the context watcher of a Go call
	raw       bool        // an Invoke call: keep the response in rawResp, decode nothing
	rawResp   *protocol.Message
}

func (call *Call) done() {
	if call.stopAfter != nil {
		call.stopAfter()
	}
	if call.ctx != nil {
		call.Error = ctxErrAfter(call.ctx, call.Error)
	}
	select {
	case call.Done <- call:
	default:
		// Done is buffered by contract (Go checks it); a full channel is the caller's bug,
		// and blocking the connection for it would stall every other call.
	}
}

// Client is one connection to one server.
type Client struct {
	opt    Option
	chain  Invoker                  // the middleware chain, nil without middleware
	remote atomic.Pointer[net.Addr] // the server's address, once connected

	mu      sync.Mutex
	nc      net.Conn
	w       *wire.Writer
	seq     uint64
	pending map[uint64]*Call
	streams map[uint64]*Stream // open streams by id (ids share the calls' seq space)
	closing bool               // Close was called
	broken  error              // why the connection ended; set once
	stop    chan struct{}
	done    chan struct{} // closed when the read loop has ended
	hbDone  chan struct{}
}

// NewClient returns an unconnected client; call Connect before making calls.
func NewClient(opt Option) *Client {
	c := &Client{opt: opt.withDefaults(), pending: make(map[uint64]*Call), stop: make(chan struct{})}
	c.buildChain()
	return c
}

// Connect dials the server at address on network ("tcp", "tcp4", "tcp6" or "unix") and starts
// the connection's read loop.
func (c *Client) Connect(network, address string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.ConnectTimeout)
	defer cancel()
	return c.ConnectContext(ctx, network, address)
}

// ConnectContext is Connect bounded by ctx as well as ConnectTimeout.
func (c *Client) ConnectContext(ctx context.Context, network, address string) error {
	dial := c.opt.Dialers[network]
	if dial == nil {
		dial = builtinDialers[network]
	}
	if dial == nil {
		return &TransportError{Op: "dial", Err: fmt.Errorf("%w %q", ErrUnknownNetwork, network)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opt.ConnectTimeout)
	defer cancel()
	nc, err := dial(ctx, network, address, &c.opt)
	if err != nil {
		return &TransportError{Op: "dial", Err: err}
	}
	return c.start(nc)
}

// ConnectConn starts the client over an established connection (any transport).
func (c *Client) ConnectConn(nc net.Conn) error { return c.start(nc) }

func (c *Client) start(nc net.Conn) error {
	if nc == nil {
		return errors.New("brisk: ConnectConn with a nil connection")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		_ = nc.Close()
		return ErrShutdown
	}
	if c.nc != nil {
		_ = nc.Close()
		return errors.New("brisk: client is already connected")
	}
	c.nc = nc
	ra := nc.RemoteAddr()
	c.remote.Store(&ra)
	c.w = wire.NewWriter(nc)
	c.done = make(chan struct{})
	go c.input(nc)
	if c.opt.Heartbeat {
		c.hbDone = make(chan struct{})
		go c.heartbeatLoop()
	}
	return nil
}

// RemoteAddr returns the server's address, or nil before Connect.
func (c *Client) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return nil
	}
	return c.nc.RemoteAddr()
}

// IsShutdown reports whether the connection has ended (closed, or broken by an error); such
// a client fails every call and should be replaced.
func (c *Client) IsShutdown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.broken != nil
}

// Close closes the connection and ends every pending call with ErrShutdown. It waits for the
// client's goroutines to stop.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	nc, done, hbDone := c.nc, c.done, c.hbDone
	c.mu.Unlock()
	close(c.stop)
	if nc == nil {
		return nil
	}
	err := nc.Close()
	<-done
	if hbDone != nil {
		<-hbDone
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func splitMethod(name string) (path, method string, err error) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", ErrBadMethodName
	}
	return name[:i], name[i+1:], nil
}

// heartbeatCodec encodes heartbeat payloads.
var heartbeatCodec codec.Codec = codec.MsgPack{}

var callPool = sync.Pool{New: func() any { return &Call{Done: make(chan *Call, 1)} }}

// Call invokes serviceMethod ("Service.Method") with args and waits for the reply, which is
// decoded into reply. A nil reply makes the call oneway: it returns once the request is
// written and the server sends nothing back.
func (c *Client) Call(ctx context.Context, serviceMethod string, args, reply any) error {
	path, method, err := splitMethod(serviceMethod)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err, _ = c.invoke(ctx, path, method, args, reply)
	return err
}

// ctxErrAfter returns ctx's error in place of err when the call failed after ctx ended:
// most likely the handler gave up at the deadline it was sent (__ServerTimeout) and said
// so before our own timer fired (timers may fire a little late). The caller learns that its
// deadline passed, not the server's echo of it.
func ctxErrAfter(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctxEnded(ctx); cerr != nil {
		return cerr
	}
	return err
}

// ctxEnded returns ctx's error, or DeadlineExceeded once its deadline has passed even if
// its timer has not fired yet; nil while ctx is live.
func ctxEnded(ctx context.Context) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *Client) recycle(call *Call) {
	*call = Call{Done: call.Done}
	callPool.Put(call)
}

// Go invokes serviceMethod asynchronously; the returned call is sent on done (or on a new
// channel, if done is nil) when it ends. done must be buffered. Cancelling ctx ends the call
// with ctx's error.
func (c *Client) Go(ctx context.Context, serviceMethod string, args, reply any, done chan *Call) *Call {
	call := &Call{Args: args, Reply: reply, Done: done}
	if call.Done == nil {
		call.Done = make(chan *Call, 1)
	} else if cap(call.Done) == 0 {
		call.Done = make(chan *Call, 1)
		call.Error = errors.New("brisk: Go needs a buffered done channel")
		call.done()
		return call
	}
	path, method, err := splitMethod(serviceMethod)
	call.ServicePath, call.ServiceMethod = path, method
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		call.Error = err
		call.done()
		return call
	}
	call.resMD, _ = ctx.Value(responseMetadataKey{}).(*map[string]string)
	if c.chain != nil {
		// Middleware runs like a Call, on a goroutine of the call's own.
		go func() {
			call.Error, _ = c.invoke(ctx, path, method, args, reply)
			call.done()
		}()
		return call
	}
	if ctx.Done() != nil {
		call.ctx = ctx
		// The watcher costs nothing until ctx ends; done stops it.
		// It may run before send registers the call; send then sees ctx ended and ends the
		// call itself, so exactly one of them does.
		call.stopAfter = context.AfterFunc(ctx, func() {
			if c.forget(call) {
				call.Error = ctx.Err()
				call.done()
			}
		})
	}
	c.send(ctx, call, false)
	return call
}

// forget removes a pending call; false means it is not pending (not yet registered, or
// already taken by the read loop). call.seq is read under c.mu, where send writes it.
func (c *Client) forget(call *Call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[call.seq] == call {
		delete(c.pending, call.seq)
		return true
	}
	return false
}

// send encodes and writes call's request, registering it as pending unless it is oneway.
// On any failure the call ends with the error.
func (c *Client) send(ctx context.Context, call *Call, heartbeat bool) {
	oneway := call.Reply == nil && !heartbeat
	serializeType := c.opt.SerializeType
	var cdc codec.Codec = heartbeatCodec
	if heartbeat {
		// A heartbeat carries a msgpack timestamp whatever the calls use, as rpcx's does:
		// the call codec (protobuf, thrift, raw) may be unable to encode an int64.
		serializeType = protocol.MsgPack
	} else {
		var err error
		if cdc, err = c.opt.Codecs.Get(serializeType); err != nil {
			call.Error = err
			call.done()
			return
		}
	}
	req := protocol.GetPooledMsg()
	defer protocol.FreeMsg(req)
	req.SetSerializeType(serializeType)
	req.SetOneway(oneway)
	req.SetHeartbeat(heartbeat)
	req.ServicePath, req.ServiceMethod = call.ServicePath, call.ServiceMethod
	c.setMetadata(ctx, req)

	bp := wire.GetBuffer()
	defer wire.PutBuffer(bp)
	payload, err := cdc.Encode(*bp, call.Args)
	if err != nil {
		call.Error = err
		call.done()
		return
	}
	*bp = payload
	if c.opt.CompressType == protocol.Gzip && len(payload) > protocol.CompressThreshold {
		zp := wire.GetBuffer()
		defer wire.PutBuffer(zp)
		*zp = protocol.Compress(*zp, payload)
		payload = *zp
		req.SetCompressType(protocol.Gzip)
	}
	req.Payload = payload
	c.write(ctx, call, req, oneway)
}

// write gives req the next seq and writes it for call, registering call as pending unless
// it is oneway; a oneway call ends once written. On any failure the call ends with the
// error. Call's requests (send) and Invoke's (sendRaw) both go out here.
func (c *Client) write(ctx context.Context, call *Call, req *protocol.Message, oneway bool) {
	c.mu.Lock()
	err := c.unusableLocked()
	if err == nil && !oneway {
		// A context that ended before the call is registered must end it here: a watcher
		// that fired earlier found nothing to forget.
		err = ctx.Err()
	}
	if err != nil {
		c.mu.Unlock()
		call.Error = err
		call.unsent = true
		call.done()
		return
	}
	seq := c.seq
	c.seq++
	call.seq = seq
	if !oneway {
		c.pending[seq] = call
	}
	w := c.w
	c.mu.Unlock()

	req.SetSeq(seq)
	if err := w.WriteMessage(req); err != nil {
		if oneway || c.forget(call) {
			call.Error = &TransportError{Op: "write", Err: err}
			call.unsent = errors.Is(err, wire.ErrNotWritten)
			call.done()
		}
		return
	}
	if oneway {
		call.done()
	}
}

// unusableLocked says why no call can be sent, or nil.
func (c *Client) unusableLocked() error {
	switch {
	case c.closing:
		return ErrShutdown
	case c.broken != nil:
		return c.broken
	case c.nc == nil:
		return ErrNotConnected
	}
	return nil
}

func (c *Client) setMetadata(ctx context.Context, req *protocol.Message) {
	md, _ := ctx.Value(requestMetadataKey{}).(map[string]string)
	deadline, hasDeadline := ctx.Deadline()
	if len(md) == 0 && !hasDeadline && c.opt.AuthToken == "" {
		return
	}
	if req.Metadata == nil {
		req.Metadata = make(map[string]string, len(md)+2)
	}
	for k, v := range md {
		req.Metadata[k] = v
	}
	if _, perCall := md[protocol.AuthKey]; c.opt.AuthToken != "" && !perCall {
		req.Metadata[protocol.AuthKey] = c.opt.AuthToken // a token given per call wins
	}
	if hasDeadline {
		req.Metadata[protocol.ServerTimeout] = strconv.FormatInt(timeoutMillis(deadline), 10)
	}
}

// timeoutMillis is the __ServerTimeout sent for a deadline: the time left in milliseconds,
// at least 1, rounded up so the handler's deadline is never before the caller's: the
// caller times out first and reports its own context error.
func timeoutMillis(deadline time.Time) int64 {
	return max(int64((time.Until(deadline)+time.Millisecond-1)/time.Millisecond), 1)
}

// input is the connection's read loop: it matches responses to pending calls and delivers
// pushes. When the connection ends it fails every pending call at once.
func (c *Client) input(nc net.Conn) {
	br := bufio.NewReaderSize(nc, c.opt.ReadBufferSize)
	msg := protocol.GetPooledMsg()
	var err error
	for {
		err = msg.Decode(br, c.opt.MaxMessageSize)
		if err != nil {
			var fe *protocol.FrameError
			if errors.As(err, &fe) && frameConsumed(err) && msg.MessageType() == protocol.Response {
				// One bad frame: fail its call, keep the connection.
				c.completeWithError(msg.Seq(), &TransportError{Op: "read", Err: err})
				continue
			}
			break
		}
		if msg.MessageType() == protocol.Request {
			if msg.IsOneway() && !msg.IsHeartbeat() {
				if !c.deliverPush(msg.Clone()) {
					err = ErrShutdown
					break
				}
			}
			continue
		}
		if msg.ServicePath == protocol.StreamService {
			if c.streamFrame(msg) {
				msg = protocol.GetPooledMsg() // the stream keeps msg
			}
			continue
		}
		c.mu.Lock()
		call := c.pending[msg.Seq()]
		delete(c.pending, msg.Seq())
		isStream := call == nil && c.streams[msg.Seq()] != nil
		c.mu.Unlock()
		if call != nil {
			c.complete(call, msg)
		} else if isStream && c.streamFrame(msg) {
			// A server that does not echo the stream service path answered an open.
			msg = protocol.GetPooledMsg()
		}
	}
	protocol.FreeMsg(msg)
	c.mu.Lock()
	reason := c.broken
	switch {
	case c.closing:
		reason = ErrShutdown
	case reason == nil:
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		reason = &TransportError{Op: "read", Err: err}
	}
	if c.broken == nil {
		c.broken = reason
	}
	calls := c.pending
	c.pending = make(map[uint64]*Call)
	streams := c.streams
	c.streams = nil
	w := c.w
	c.mu.Unlock()
	w.Fail(reason)
	_ = nc.Close()
	c.abortStreams(streams, reason)
	for _, call := range calls {
		call.Error = reason
		call.done()
	}
	c.opt.Logger.Debug("brisk: connection ended", "remote", nc.RemoteAddr(), "reason", reason)
	close(c.done)
}

// frameConsumed reports whether a decode error left the stream at a frame boundary.
func frameConsumed(err error) bool {
	return errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrUnknownCompressType) ||
		errors.Is(err, protocol.ErrDecompressedTooLarge) || errors.Is(err, protocol.ErrBadCompressedData)
}

func (c *Client) completeWithError(seq uint64, err error) {
	c.mu.Lock()
	call := c.pending[seq]
	delete(c.pending, seq)
	c.mu.Unlock()
	if call != nil {
		call.Error = err
		call.done()
	}
}

// complete ends call with the response in msg.
func (c *Client) complete(call *Call, msg *protocol.Message) {
	if call.raw {
		completeRaw(call, msg)
		return
	}
	if call.resMD != nil {
		var md map[string]string
		if len(msg.Metadata) > 0 {
			md = make(map[string]string, len(msg.Metadata))
			for k, v := range msg.Metadata {
				md[k] = v
			}
		}
		*call.resMD = md
	}
	switch {
	case msg.MessageStatusType() == protocol.Error:
		text := msg.Metadata[protocol.ServiceError]
		if text == "" {
			text = "brisk: server reported an error without a message"
		}
		call.Error = ServiceError(text)
	case call.Reply != nil && len(msg.Payload) > 0:
		var cdc codec.Codec
		cdc, call.Error = c.opt.Codecs.Get(msg.SerializeType())
		if call.Error == nil {
			call.Error = cdc.Decode(msg.Payload, call.Reply)
		}
	}
	call.done()
}

// deliverPush hands a pushed message to the application. It reports false if the client
// closed while waiting for room in PushChan.
func (c *Client) deliverPush(m *protocol.Message) bool {
	switch {
	case c.opt.PushHandler != nil:
		c.opt.PushHandler(m)
	case c.opt.PushChan != nil:
		select {
		case c.opt.PushChan <- m:
		case <-c.stop:
			return false
		}
	default:
		c.opt.Logger.Warn("brisk: server pushed a message but the client has no PushHandler or PushChan; discarded",
			"service", m.ServicePath, "method", m.ServiceMethod)
	}
	return true
}

// heartbeatLoop pings the server and breaks the connection when a ping goes unanswered.
func (c *Client) heartbeatLoop() {
	defer close(c.hbDone)
	t := time.NewTicker(c.opt.HeartbeatInterval)
	defer t.Stop()
	hb := &Call{Done: make(chan *Call, 1), Reply: new(int64)}
	for {
		select {
		case <-c.done:
			return
		case <-c.stop:
			return
		case <-t.C:
		}
		hb.Error = nil
		hb.Args = time.Now().UnixNano()
		c.send(context.Background(), hb, true)
		timer := time.NewTimer(c.opt.MaxWaitForHeartbeat)
		select {
		case <-hb.Done:
			timer.Stop()
			if hb.Error != nil {
				return // the connection already ended
			}
		case <-timer.C:
			if c.forget(hb) {
				c.breakConn(&TransportError{Op: "heartbeat", Err: ErrHeartbeatTimeout})
				return
			}
			<-hb.Done
		case <-c.stop:
			timer.Stop()
			return
		}
	}
}

// breakConn ends the connection with reason; pending calls fail with it.
func (c *Client) breakConn(reason error) {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = reason
	}
	nc := c.nc
	c.mu.Unlock()
	if nc != nil {
		_ = nc.Close()
	}
}
