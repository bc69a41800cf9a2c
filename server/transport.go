package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ListenFunc opens a listener for Serve(network, address). tlsConfig is the server's
// (WithTLSConfig), nil without TLS: a stream transport wraps its listener in it, a
// transport with its own encryption (QUIC) uses it for that.
type ListenFunc func(ctx context.Context, network, address string, tlsConfig *tls.Config) (net.Listener, error)

// ErrUnknownNetwork is returned by Serve for a network that has no ListenFunc.
var ErrUnknownNetwork = errors.New("brisk: no listener for network")

// WithListenFunc adds or replaces how Serve listens on network. The built-ins are tcp,
// tcp4, tcp6, unix, http and ws (plain tcp: every tcp port also answers HTTP CONNECT and
// WebSocket at /_rpcx_), and wss (tcp that requires WithTLSConfig); transport packages such
// as transport/quic and transport/kcp provide more.
func WithListenFunc(network string, fn ListenFunc) Option {
	return func(s *Server) {
		if s.listenFuncs == nil {
			s.listenFuncs = make(map[string]ListenFunc)
		}
		s.listenFuncs[network] = fn
	}
}

// WithReusePort sets SO_REUSEPORT on tcp listeners, so that a new process can listen on
// the same port while the old one drains: a restart without refused connections.
func WithReusePort() Option { return func(s *Server) { s.reusePort = true } }

// listen opens the listener for network and address.
func (s *Server) listen(ctx context.Context, network, address string) (net.Listener, error) {
	if fn := s.listenFuncs[network]; fn != nil {
		return fn(ctx, network, address, s.tlsConfig)
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "http", "ws":
		if network == "http" || network == "ws" {
			network = "tcp"
		}
		return s.listenStream(ctx, network, address, s.tlsConfig)
	case "wss":
		if s.tlsConfig == nil {
			return nil, errors.New("brisk: wss needs WithTLSConfig")
		}
		return s.listenStream(ctx, "tcp", address, s.tlsConfig)
	case "unix":
		// A socket file left by a crashed process would make Listen fail.
		if fi, err := os.Stat(address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(address)
		}
		return s.listenStream(ctx, network, address, s.tlsConfig)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
}

func (s *Server) listenStream(ctx context.Context, network, address string, tlsConfig *tls.Config) (net.Listener, error) {
	var lc net.ListenConfig
	if s.reusePort && network != "unix" {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}
