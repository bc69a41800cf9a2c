package server

import (
	"context"
	"net"
	"sync"

	"github.com/brisk-rpc/brisk/protocol"
)

// callContext is the context a handler receives. It answers the server's own lookups
// without a context.WithValue chain: one allocation per call.
type callContext struct {
	context.Context
	req  *protocol.Message
	conn net.Conn // nil for Invoke
	inv  Invocation

	mu    sync.Mutex
	resMD map[string]string
}

type callContextKey struct{}

func (cc *callContext) Value(key any) any {
	if key == (callContextKey{}) {
		return cc
	}
	return cc.Context.Value(key)
}

func (cc *callContext) takeResponseMetadata() map[string]string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	md := cc.resMD
	cc.resMD = nil
	return md
}

func fromContext(ctx context.Context) *callContext {
	cc, _ := ctx.Value(callContextKey{}).(*callContext)
	return cc
}

// RequestMetadata returns the metadata the caller sent with the request being handled, or
// nil outside a handler. Treat it as read-only, and do not keep it after the handler returns.
func RequestMetadata(ctx context.Context) map[string]string {
	if cc := fromContext(ctx); cc != nil {
		return cc.req.Metadata
	}
	return nil
}

// SetResponseMetadata adds key=value to the metadata of the response being prepared. It is
// safe to call from several goroutines of one handler and does nothing outside a handler.
func SetResponseMetadata(ctx context.Context, key, value string) {
	cc := fromContext(ctx)
	if cc == nil {
		return
	}
	cc.mu.Lock()
	if cc.resMD == nil {
		cc.resMD = make(map[string]string, 2)
	}
	cc.resMD[key] = value
	cc.mu.Unlock()
}

// RemoteConn returns the connection the request being handled arrived on, for
// Server.SendMessage, or nil outside a handler and for requests made through Invoke.
func RemoteConn(ctx context.Context) net.Conn {
	if cc := fromContext(ctx); cc != nil {
		return cc.conn
	}
	return nil
}
