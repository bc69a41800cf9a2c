package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Error texts sent to callers for framework errors (the handler's own errors go as they are).
const (
	errTextShuttingDown = protocol.TextShuttingDown
)

// conn is one accepted connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	w      *wire.Writer
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc

	inflight  atomic.Int64  // requests admitted and not yet answered
	running   atomic.Int64  // requests whose method has not returned yet
	received  atomic.Uint64 // requests read, for Drain
	draining  atomic.Bool
	closeOnce sync.Once
	topics    map[string]struct{} // subscribed topics, guarded by the server's topicMu
	pushOnce  sync.Once
	pushes    *pushQueue
	streamMu  sync.Mutex
	streams   map[uint64]*Stream // open streams by id; nil once the connection closed
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{srv: s, nc: nc, w: wire.NewWriter(nc), ctx: ctx, cancel: cancel}
}

// serve is the connection's read loop; br reads c.nc.
func (c *conn) serve(br *bufio.Reader) {
	defer c.srv.removeConn(c)
	defer c.close()
	s := c.srv
	for {
		if s.readTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(s.readTimeout))
		}
		req := protocol.GetPooledMsg()
		err := req.Decode(br, s.maxMessageSize)
		if err != nil {
			if !c.answerBadFrame(req, err) {
				protocol.FreeMsg(req)
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					s.logger.Debug("brisk: closing connection", "remote", c.nc.RemoteAddr(), "err", err)
				}
				return
			}
			continue
		}
		if req.MessageType() != protocol.Request {
			protocol.FreeMsg(req) // clients do not answer pushes; ignore strays
			continue
		}
		if req.ServicePath == protocol.StreamService {
			c.streamFrame(req)
			continue
		}
		if req.IsHeartbeat() {
			req.SetMessageType(protocol.Response)
			_ = c.w.WriteMessage(req)
			protocol.FreeMsg(req)
			continue
		}
		c.received.Add(1)
		if lim := s.maxBacklog; lim > 0 && c.w.Queued() > lim {
			// The client sends requests but does not read the answers: stop reading its
			// requests until they drain (TCP backpressure), instead of buffering answers
			// without bound.
			_ = c.w.WaitBelow(c.ctx.Done(), lim)
		}
		c.inflight.Add(1)
		n := c.running.Add(1)
		if c.draining.Load() {
			c.running.Add(-1)
			replyError(c, req, errTextShuttingDown)
			c.finish(req)
			continue
		}
		if s.maxPerConn > 0 && n > s.maxPerConn {
			c.running.Add(-1)
			replyError(c, req, protocol.TextOverloaded)
			c.finish(req)
			continue
		}
		s.workers.run(job{c: c, req: req})
	}
}

// answerBadFrame answers a frame that was read whole but could not be parsed, so the caller
// gets an error instead of a silent drop and the connection stays usable. It reports false
// when the stream itself is broken and the connection must close.
func (c *conn) answerBadFrame(req *protocol.Message, err error) bool {
	if !errors.Is(err, protocol.ErrMalformed) && !errors.Is(err, protocol.ErrUnknownCompressType) &&
		!errors.Is(err, protocol.ErrDecompressedTooLarge) && !errors.Is(err, protocol.ErrBadCompressedData) {
		return false
	}
	if req.MessageType() == protocol.Request && !req.IsOneway() {
		c.inflight.Add(1)
		replyError(c, req, "brisk: bad request: "+err.Error())
		c.finish(req)
	} else {
		protocol.FreeMsg(req)
	}
	return true
}

// finish releases req and closes a draining connection once its last call has answered.
func (c *conn) finish(req *protocol.Message) {
	protocol.FreeMsg(req)
	if c.inflight.Add(-1) == 0 && c.draining.Load() {
		c.w.CloseWhenFlushed()
	}
}

// drain stops admitting requests; the connection closes after the last answer is written.
func (c *conn) drain() {
	c.draining.Store(true)
	if c.inflight.Load() == 0 {
		c.w.CloseWhenFlushed()
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.w.Fail(net.ErrClosed)
		_ = c.nc.Close()
		c.cancel()
		c.abortStreams()
	})
}

// exchange is where the response to a request goes: a connection, or an Invoke caller.
type exchange interface {
	// respond sends resp, a request already turned into its response; it keeps nothing
	// of it after returning.
	respond(resp *protocol.Message)
	// refused is told that the request failed the auth check, after its error response.
	refused(err error)
	// netConn is the connection the request came on, or nil.
	netConn() net.Conn
	// remoteAddr is the caller's address, or nil.
	remoteAddr() net.Addr
	// ran is told that the method (or the middleware) has returned, before the response
	// is sent.
	ran()
	// stream is the stream the request opens, or nil for a call.
	stream() *Stream
}

// handle runs one request of c and writes its response.
func (c *conn) handle(req *protocol.Message) {
	defer c.finish(req)
	c.srv.handle(c.ctx, c, req)
}

func (c *conn) respond(resp *protocol.Message) {
	if err := c.w.WriteMessage(resp); err != nil {
		c.srv.logger.Debug("brisk: writing response failed", "remote", c.nc.RemoteAddr(), "err", err)
	}
}

func (c *conn) refused(error) { c.w.CloseWhenFlushed() }

func (c *conn) netConn() net.Conn { return c.nc }

func (c *conn) remoteAddr() net.Addr { return c.nc.RemoteAddr() }

// ran frees the request's place under WithMaxConcurrentRequestsPerConn before its response
// is written, so a client that waits for each answer is never refused.
func (c *conn) ran() { c.running.Add(-1) }

func (c *conn) stream() *Stream { return nil }

// handle runs req, in base's context, and sends its response (unless it is oneway) to ex.
func (s *Server) handle(base context.Context, ex exchange, req *protocol.Message) {
	if s.auth != nil {
		if err := s.auth(base, req, req.Metadata[protocol.AuthKey]); err != nil {
			ex.ran()
			replyError(ex, req, err.Error())
			ex.refused(err)
			return
		}
	}
	cc := &callContext{Context: base, req: req, conn: ex.netConn()}
	cc.inv = Invocation{
		ServicePath:   req.ServicePath,
		ServiceMethod: req.ServiceMethod,
		Metadata:      req.Metadata,
		Oneway:        req.IsOneway(),
		PayloadSize:   len(req.Payload),
		req:           req,
	}
	if st := ex.stream(); st != nil {
		cc.inv.Stream, cc.inv.stream = true, st
	}
	cc.inv.RemoteAddr = ex.remoteAddr()
	var ctx context.Context = cc
	if ms := req.Metadata[protocol.ServerTimeout]; ms != "" {
		if n, perr := strconv.ParseInt(ms, 10, 64); perr == nil && n > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(cc, time.Duration(n)*time.Millisecond)
			defer cancel()
		}
	}
	callErr := s.chain(ctx, &cc.inv)
	ex.ran()
	defer cc.inv.release()
	if req.IsOneway() {
		return
	}
	resMD := cc.takeResponseMetadata()
	if callErr != nil {
		replyFailure(ex, req, resMD, callErr.Error())
		return
	}
	// (An empty reply if a middleware answered without running the method.)
	if !cc.inv.gzipped {
		req.SetCompressType(protocol.None)
	}
	respond(ex, req, resMD, cc.inv.payload)
}

// replyError answers req with a framework error unless it is oneway.
func replyError(ex exchange, req *protocol.Message, text string) {
	if req.IsOneway() {
		return
	}
	replyFailure(ex, req, nil, text)
}

// replyFailure sends an error response: status Error, the text under __rpcx_error__ (added
// to the handler's response metadata, if any) and no payload.
func replyFailure(ex exchange, req *protocol.Message, md map[string]string, text string) {
	if md == nil {
		md = make(map[string]string, 1)
	}
	md[protocol.ServiceError] = text
	req.SetCompressType(protocol.None)
	req.SetMessageStatusType(protocol.Error)
	respond(ex, req, md, nil)
}

// respond turns req into its response with md and payload, hands it to ex, and restores
// req's metadata so the pooled message is released whole.
func respond(ex exchange, req *protocol.Message, md map[string]string, payload []byte) {
	reqMD := req.Metadata
	req.SetMessageType(protocol.Response)
	req.SetOneway(false)
	req.Metadata = md
	req.Payload = payload
	ex.respond(req)
	req.Metadata = reqMD
	req.Payload = nil
}
