package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Invocation is one request as middleware sees it. Middleware may read every field; it must
// not keep the Invocation after its Handler returns.
type Invocation struct {
	ServicePath   string
	ServiceMethod string
	// Metadata is the request's metadata: treat it as read-only. Use SetResponseMetadata
	// on the context to answer with metadata.
	Metadata map[string]string
	// RemoteAddr is the caller's address, nil for requests made through Server.Invoke.
	RemoteAddr net.Addr
	// Oneway reports that the caller expects no response.
	Oneway bool
	// PayloadSize is the size of the encoded arguments, in bytes.
	PayloadSize int
	// ReplySize is the size of the encoded reply (compressed, if it is), set by the
	// method: a middleware reads it after calling next.
	ReplySize int
	// Stream reports that the request opens a stream (see Stream): next returns when the
	// stream's method does, and there is no reply payload.
	Stream bool

	req     *protocol.Message
	stream  *Stream    // the stream the request opens, or nil
	replied bool       // the method ran and its reply is encoded in payload
	gzipped bool       // payload is compressed
	payload []byte     // the encoded reply
	bufs    [2]*[]byte // pooled buffers holding it (encoded, compressed), released once sent
}

// Handler runs one request: the next middleware, or at the end the method itself, which
// decodes the arguments, calls the method and keeps its reply to be sent. A request for a
// service or method the server lacks ends with an error wrapping ErrNotFound.
//
// The error goes back to the caller as its text (a client sees a client.ServiceError). A
// middleware that refuses a request before the method runs should return an error wrapping
// ErrOverloaded or ErrRateLimited, which clients may safely retry on another server.
type Handler func(ctx context.Context, inv *Invocation) error

// Middleware wraps the next Handler. It runs on the request's goroutine, so it may block
// (a limiter waiting for a slot, say) and must watch ctx while it does.
type Middleware func(next Handler) Handler

// WithMiddleware adds middleware around every request's handling. The first given is the
// outermost. The chain is built once, when the server is made; auth (WithAuthFunc) runs
// before it.
func WithMiddleware(mw ...Middleware) Option {
	return func(s *Server) { s.middleware = append(s.middleware, mw...) }
}

// Errors of a request for a service or method the server does not have. ErrUnknownService
// and ErrUnknownMethod both wrap ErrNotFound; the error's text names what was missing, as
// rpcx's does.
var (
	ErrNotFound       = errors.New("brisk: not found")
	ErrUnknownService = fmt.Errorf("%w: unknown service", ErrNotFound)
	ErrUnknownMethod  = fmt.Errorf("%w: unknown method", ErrNotFound)
)

// notFoundError is the error of a request for a missing service or method.
type notFoundError struct {
	text string
	kind error // ErrUnknownService or ErrUnknownMethod
}

func (e *notFoundError) Error() string { return e.text }
func (e *notFoundError) Unwrap() error { return e.kind }

// IsRefused reports whether err, returned by a Handler, refuses the request before its
// method ran: ErrOverloaded, ErrRateLimited, a draining server, or an error with one of
// their texts.
func IsRefused(err error) bool {
	return err != nil && (errors.Is(err, ErrOverloaded) || errors.Is(err, ErrRateLimited) ||
		protocol.IsRefusalText(err.Error()))
}

// Errors a middleware returns to refuse a request before its method runs. Their texts are
// the ones brisk clients recognise as safe to retry elsewhere.
var (
	// ErrOverloaded says the server sheds load (a concurrency limit is reached).
	ErrOverloaded = errors.New(protocol.TextOverloaded)
	// ErrRateLimited says a rate limit is exceeded.
	ErrRateLimited = errors.New(protocol.TextRateLimited)
)

// ConnHooks are told about connections. Accepted may refuse one by returning an error: the
// connection is closed at once, before anything is read from it. Closed is called once for
// every accepted connection when it ends. Both must return promptly.
type ConnHooks struct {
	Accepted func(nc net.Conn) error
	Closed   func(nc net.Conn)
}

// WithConnHooks adds connection hooks (an IP filter, connection metrics).
func WithConnHooks(h ConnHooks) Option {
	return func(s *Server) { s.connHooks = append(s.connHooks, h) }
}

// WithMaxConcurrentRequestsPerConn limits the requests one connection may have running at
// once; further requests are answered with ErrOverloaded's text at once (default: no
// limit), so that one client cannot take every handler.
func WithMaxConcurrentRequestsPerConn(n int) Option {
	return func(s *Server) { s.maxPerConn = int64(n) }
}

// buildChain wraps the method dispatcher in the middleware, once.
func (s *Server) buildChain() {
	h := Handler(s.dispatch)
	for i := len(s.middleware) - 1; i >= 0; i-- {
		h = s.middleware[i](h)
	}
	s.chain = h
}

// dispatch is the end of the chain: find the method, decode the arguments, run it.
func (s *Server) dispatch(ctx context.Context, inv *Invocation) error {
	if inv.ServicePath == protocol.PushService {
		return s.pushControl(ctx, inv)
	}
	if inv.ServicePath == protocol.ReflectionService {
		return s.reflectionControl(ctx, inv)
	}
	if inv.stream != nil {
		return s.runStreamMethod(ctx, inv)
	}
	mt, err := s.lookup(inv.ServicePath, inv.ServiceMethod)
	if err != nil {
		return err
	}
	if mt.stream {
		return fmt.Errorf("brisk: %s.%s is a stream method: open a stream to it", inv.ServicePath, inv.ServiceMethod)
	}
	cdc, err := s.codecs.Get(inv.req.SerializeType())
	if err != nil {
		return errors.New("brisk: " + err.Error())
	}
	argp := reflect.New(mt.argType)
	if err := cdc.Decode(inv.req.Payload, argp.Interface()); err != nil {
		return errors.New("brisk: bad arguments: " + err.Error())
	}
	argv := argp
	if !mt.argIsPtr {
		argv = argp.Elem()
	}
	replyv := reflect.New(mt.replyType)
	callErr := mt.call(ctx, argv, replyv)
	if pe, ok := callErr.(*panicError); ok {
		s.logger.Error("brisk: handler panicked", "service", inv.ServicePath, "method", inv.ServiceMethod,
			"panic", pe.value, "stack", string(pe.stack))
	}
	if callErr != nil {
		return callErr
	}
	return inv.encodeReply(cdc, replyv.Interface())
}

// lookup finds a registered method.
func (s *Server) lookup(service, method string) (*methodType, error) {
	svc := (*s.services.Load())[service]
	if svc == nil {
		return nil, &notFoundError{protocol.TextUnknownService + service, ErrUnknownService}
	}
	mt := svc.methods[method]
	if mt == nil {
		return nil, &notFoundError{protocol.TextUnknownMethod + method + " of service " + service, ErrUnknownMethod}
	}
	return mt, nil
}

// encodeReply encodes the method's reply, compressed if the request was, into pooled
// buffers that handle releases after sending it.
func (inv *Invocation) encodeReply(cdc codec.Codec, reply any) error {
	bp := wire.GetBuffer()
	payload, err := cdc.Encode(*bp, reply)
	if err != nil {
		wire.PutBuffer(bp)
		return errors.New("brisk: cannot encode reply: " + err.Error())
	}
	*bp = payload
	inv.bufs[0] = bp
	if inv.req.CompressType() == protocol.Gzip && len(payload) > protocol.CompressThreshold {
		zp := wire.GetBuffer()
		*zp = protocol.Compress(*zp, payload)
		payload = *zp
		inv.bufs[1] = zp
		inv.gzipped = true
	}
	inv.payload, inv.replied, inv.ReplySize = payload, true, len(payload)
	return nil
}

// release returns the reply's buffers to their pool.
func (inv *Invocation) release() {
	for i, bp := range inv.bufs {
		if bp != nil {
			wire.PutBuffer(bp)
			inv.bufs[i] = nil
		}
	}
	inv.payload = nil
}

// hook runs the Accepted hooks for a newly accepted connection and returns the connection
// to serve, which runs the Closed hooks when it is closed, or nil if a hook refused it.
func (s *Server) hook(nc net.Conn) net.Conn {
	if len(s.connHooks) == 0 {
		return nc
	}
	hc := &hookedConn{Conn: nc, raw: nc}
	for _, h := range s.connHooks {
		if h.Accepted != nil {
			if err := h.Accepted(nc); err != nil {
				s.logger.Debug("brisk: connection refused by a hook", "remote", nc.RemoteAddr(), "err", err)
				_ = hc.Close() // tells the hooks that accepted it
				return nil
			}
		}
		hc.told = append(hc.told, h)
	}
	return hc
}

// hookedConn is an accepted connection whose Close tells the hooks, once.
type hookedConn struct {
	net.Conn
	raw  net.Conn
	told []ConnHooks
	once sync.Once
}

func (c *hookedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		for _, h := range c.told {
			if h.Closed != nil {
				h.Closed(c.raw)
			}
		}
	})
	return err
}
