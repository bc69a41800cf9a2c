package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// DialFunc opens a connection to address for network, a name it was registered under in
// Option.Dialers. opt is the client's Option (TLSConfig, TCPKeepAlivePeriod, ...); ctx
// bounds the dial, handshakes included.
type DialFunc func(ctx context.Context, network, address string, opt *Option) (net.Conn, error)

// ErrUnknownNetwork is returned (inside a *TransportError) by Connect for a network that
// has no dialer.
var ErrUnknownNetwork = errors.New("brisk: no dialer for network")

// RPCXPath is where rpcx and brisk servers accept HTTP CONNECT and WebSocket connections.
const RPCXPath = "/_rpcx_"

// builtinDialers are the networks every client can dial. It is never modified.
var builtinDialers = map[string]DialFunc{
	"tcp":  DialTCP,
	"tcp4": DialTCP,
	"tcp6": DialTCP,
	"unix": DialTCP,
	"http": DialHTTPConnect,
	"ws":   DialWebSocket,
	"wss":  DialWebSocket,
}

// DialTCP dials a stream network (tcp, tcp4, tcp6, unix) with the Option's keep-alive, and
// TLS when the Option has a TLSConfig.
func DialTCP(ctx context.Context, network, address string, opt *Option) (net.Conn, error) {
	if network != "tcp4" && network != "tcp6" && network != "unix" {
		network = "tcp"
	}
	d := net.Dialer{KeepAlive: opt.TCPKeepAlivePeriod}
	if opt.TLSConfig != nil {
		td := tls.Dialer{NetDialer: &d, Config: opt.TLSConfig}
		return td.DialContext(ctx, network, address)
	}
	return d.DialContext(ctx, network, address)
}

// DialHTTPConnect dials tcp (TLS when the Option has a TLSConfig), asks for the RPC stream
// with "CONNECT /_rpcx_ HTTP/1.0", as rpcx clients do, and returns the connection once the
// server has answered 200.
func DialHTTPConnect(ctx context.Context, _, address string, opt *Option) (net.Conn, error) {
	nc, err := DialTCP(ctx, "tcp", address, opt)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() }) // bound the handshake by ctx
	nc, err = httpConnect(nc)
	if !stop() {
		if nc != nil {
			_ = nc.Close()
		}
		return nil, ctx.Err()
	}
	return nc, err
}

func httpConnect(nc net.Conn) (net.Conn, error) {
	if _, err := nc.Write([]byte("CONNECT " + RPCXPath + " HTTP/1.0\r\n\r\n")); err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("brisk: HTTP CONNECT: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_ = nc.Close()
		return nil, fmt.Errorf("brisk: HTTP CONNECT refused: %s", strings.TrimSpace(resp.Status))
	}
	if br.Buffered() > 0 {
		// The server started speaking frames right after its answer (it never does
		// before a request, but a proxy might forward bytes early): keep them.
		return &bufferedConn{Conn: nc, r: br}, nil
	}
	return nc, nil
}

// bufferedConn is a net.Conn whose first bytes come from a reader that already holds some.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
