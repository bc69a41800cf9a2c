package server

import (
	"context"
	"fmt"
	"net"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

// Invoke runs req on this server without a connection, as the HTTP gateway does (the
// caller's address, if ctx carries one from gateway.WithRemoteAddr, reaches middleware), and
// returns its response (nil for a oneway request). A service error, an unknown service or
// bad arguments give a response with status Error; an auth failure gives an error wrapping
// gateway.ErrUnauthorized; a server shutting down gives an error. req may be modified.
// Invoke implements gateway.Invoker.
func (s *Server) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if s.isClosing() {
		return nil, errShuttingDown
	}
	req.SetMessageType(protocol.Request)
	ex := &invokeExchange{remote: gateway.RemoteAddr(ctx)}
	s.handle(ctx, ex, req)
	if ex.authErr != nil {
		return nil, fmt.Errorf("%w: %w", gateway.ErrUnauthorized, ex.authErr)
	}
	return ex.resp, nil
}

// errShuttingDown wraps gateway.ErrUnavailable, so the gateway answers 503.
var errShuttingDown = fmt.Errorf("%s: %w", errTextShuttingDown, gateway.ErrUnavailable)

// invokeExchange keeps the response of an Invoke.
type invokeExchange struct {
	resp    *protocol.Message
	authErr error
	remote  net.Addr // from gateway.WithRemoteAddr, or nil
}

func (e *invokeExchange) respond(resp *protocol.Message) { e.resp = resp.Clone() }

func (e *invokeExchange) refused(err error) { e.authErr = err }

func (e *invokeExchange) netConn() net.Conn { return nil }

func (e *invokeExchange) ran() {}

func (e *invokeExchange) stream() *Stream { return nil }

func (e *invokeExchange) remoteAddr() net.Addr { return e.remote }
