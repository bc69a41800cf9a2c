package client

import (
	"context"
	"net"
	"sync"
)

// Invocation is one call as client middleware sees it. Middleware must not keep it after
// its Invoker returns.
type Invocation struct {
	ServicePath   string
	ServiceMethod string
	Args, Reply   any
	// RemoteAddr is the server's address (nil before the client is connected).
	RemoteAddr net.Addr
	// Stream reports that the call opens a stream (NewStream): Args and Reply are nil, and
	// the Invoker returns once the stream is open, not when it ends.
	Stream bool

	sent    bool    // the request may have reached the server (for XClient's retries)
	opened  *Stream // the stream a Stream invocation opened
	release func()  // for the stream, see Stream.release
}

// Invoker makes one call: the next middleware, or at the end the call on the connection.
// Metadata to send goes in the context (WithMetadata); the error is the call's.
type Invoker func(ctx context.Context, inv *Invocation) error

// Middleware wraps the next Invoker. Set it in Option.Middleware; the first is the
// outermost. It runs for Call, Go (on a goroutine of its own), every attempt an XClient
// makes and the opening of a stream (Invocation.Stream), and the chain is built once per
// connection.
type Middleware func(next Invoker) Invoker

// buildChain wraps the connection's own call in the Option's middleware, once.
func (c *Client) buildChain() {
	if len(c.opt.Middleware) == 0 {
		return
	}
	h := Invoker(func(ctx context.Context, inv *Invocation) error {
		if inv.Stream {
			st, err := c.openStream(ctx, inv.ServicePath, inv.ServiceMethod, inv.release)
			inv.opened = st
			return err
		}
		err, sent := c.invokeDirect(ctx, inv.ServicePath, inv.ServiceMethod, inv.Args, inv.Reply)
		inv.sent = inv.sent || sent
		return err
	})
	for i := len(c.opt.Middleware) - 1; i >= 0; i-- {
		h = c.opt.Middleware[i](h)
	}
	c.chain = h
}

// invoke makes a call through the middleware, if any. sent reports whether the request may
// have reached the server.
func (c *Client) invoke(ctx context.Context, path, method string, args, reply any) (err error, sent bool) {
	if c.chain == nil {
		return c.invokeDirect(ctx, path, method, args, reply)
	}
	inv := invocationPool.Get().(*Invocation)
	*inv = Invocation{ServicePath: path, ServiceMethod: method, Args: args, Reply: reply}
	if ra := c.remote.Load(); ra != nil {
		inv.RemoteAddr = *ra
	}
	err = c.chain(ctx, inv)
	sent = inv.sent
	*inv = Invocation{}
	invocationPool.Put(inv)
	return err, sent
}

// invocationPool recycles Invocations: middleware may not keep them.
var invocationPool = sync.Pool{New: func() any { return new(Invocation) }}
