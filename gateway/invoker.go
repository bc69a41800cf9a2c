package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/brisk-rpc/brisk/protocol"
)

// Invoker runs one request and returns its response. A *server.Server invokes its own
// services; a *client.XClient forwards to the servers of its service.
//
// req is a complete request (service path, method, serialize type, metadata, payload);
// Invoke may modify it. The response belongs to the caller. A service error is a response
// with status Error and the text under protocol.ServiceError, with a nil error; a non-nil
// error means there is no response: the call could not be made (unknown network, no server,
// transport failure, the context ended), or was refused (errors wrapping ErrUnauthorized).
// A oneway request returns a nil response once sent.
//
// The gateway answers an error wrapping ErrUnauthorized with 401, one wrapping
// ErrUnavailable (no server can take the call) with 503, one wrapping
// context.DeadlineExceeded with 504 and any other with 502; a response with status Error
// with 500 (see the package doc).
type Invoker interface {
	Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error)
}

// ErrUnauthorized is wrapped by errors an Invoker returns for a request its auth check
// refused. The HTTP gateway answers those with 401.
var ErrUnauthorized = errors.New("unauthorized")

type remoteAddrKey struct{}

// WithRemoteAddr returns a context carrying the caller's network address. The gateway sets
// it from each HTTP request, so that an Invoker can report who called: Server.Invoke gives
// it to middleware as Invocation.RemoteAddr (for IP filters and per-client rate limits).
func WithRemoteAddr(ctx context.Context, addr net.Addr) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RemoteAddr returns the address WithRemoteAddr put in ctx, or nil.
func RemoteAddr(ctx context.Context) net.Addr {
	a, _ := ctx.Value(remoteAddrKey{}).(net.Addr)
	return a
}

// httpRemoteAddr parses an http.Request's RemoteAddr ("ip:port"), nil if it is not one.
func httpRemoteAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}
