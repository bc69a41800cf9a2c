// Package quic carries brisk (and rpcx) connections over QUIC, using quic-go.
//
// Each QUIC connection carries one bidirectional stream, and that stream carries the rpcx
// byte stream exactly as a TCP connection would; this is how rpcx's own QUIC transport
// works, so brisk and rpcx peers interoperate over it.
//
// Server:
//
//	s := server.NewServer(
//		server.WithTLSConfig(tlsConf), // required: QUIC always runs TLS 1.3
//		server.WithListenFunc("quic", briskquic.Listen(nil)),
//	)
//	s.Register(new(Arith), "")
//	err := s.Serve("quic", "127.0.0.1:8972")
//
// Client:
//
//	opt := client.DefaultOption
//	opt.TLSConfig = tlsConf // required
//	opt.Dialers = map[string]client.DialFunc{"quic": briskquic.Dial(nil)}
//	c := client.NewClient(opt)
//	err := c.Connect("quic", "127.0.0.1:8972")
//
// An XClient dials registry addresses such as "quic@127.0.0.1:8972" with the same Option.
//
// # TLS and ALPN
//
// Both sides need a TLS config (server.WithTLSConfig, client Option.TLSConfig); without one
// Listen and Dial fail with ErrNoTLSConfig. QUIC negotiates TLS 1.3 whatever the config's
// MinVersion says. The config is cloned, never modified. When its NextProtos is empty,
// both sides use DefaultNextProtos, ["brisk", "rpcx"]: brisk peers agree on "brisk", and
// rpcx peers, whose QUIC transport sets NextProtos to ["rpcx"] when it is empty, agree on
// "rpcx" with a brisk peer on either side. A config with its own NextProtos is used as is,
// and then both sides must share a protocol name or the handshake fails.
//
// # Closing
//
// Close sends the end of the stream after the data already written, like a TCP FIN, and
// returns at once; the QUIC connection is closed once the peer has read everything and
// ended its side too, or after CloseTimeout. So a response written just before Close (a
// server's graceful Shutdown, a oneway call followed by Close) still arrives.
//
// Closing a listener stops it accepting; the connections it has accepted stay open until
// they are closed (so that Server.Shutdown can drain them), and its UDP socket is closed
// with the last of them. A connection that has not opened its stream yet is closed with
// the listener. Meanwhile the socket refuses new connections at once: a new handshake is
// answered with QUIC's CONNECTION_REFUSED, so a client's Dial fails straight away (with an
// error wrapping ErrConnectionRefused) instead of waiting for its timeout, as it would
// with TCP; a handshake already under way when the listener closed is closed as soon as it
// completes, with the reason "brisk: server is shutting down".
//
// # Defaults and logging
//
// A nil *quic.Config means quic-go's defaults plus a KeepAlivePeriod of DefaultKeepAlive,
// so that an idle RPC connection is not closed by QUIC's idle timeout (30 s by default);
// a non-nil config is used as given. quic-go may print one warning with the standard
// logger when it cannot enlarge the UDP receive buffer; set the environment variable
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true to silence it (see quic-go's wiki page
// "UDP Buffer Sizes").
package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/acceptq"
	"github.com/brisk-rpc/brisk/server"
)

// Network is the name this package's transport is usually registered under, and the
// network part of a registry address ("quic@host:port").
const Network = "quic"

// ALPN is the application protocol brisk peers agree on.
const ALPN = "brisk"

// RPCXALPN is the application protocol rpcx's QUIC transport uses by default.
const RPCXALPN = "rpcx"

// DefaultNextProtos returns the ALPN list used when a TLS config has none: ALPN first,
// then RPCXALPN, so that brisk peers agree on "brisk" and rpcx peers still connect.
func DefaultNextProtos() []string { return []string{ALPN, RPCXALPN} }

// DefaultKeepAlive is the KeepAlivePeriod used when Listen or Dial is given a nil config.
const DefaultKeepAlive = 15 * time.Second

// CloseTimeout bounds how long a closed connection waits for its peer to read the data
// still in flight and end its side before the QUIC connection is closed anyway.
const CloseTimeout = 2 * time.Second

// ErrNoTLSConfig is returned by Listen's and Dial's functions when there is no TLS config.
var ErrNoTLSConfig = errors.New("brisk/transport/quic: QUIC needs a TLS config (server.WithTLSConfig on the server, Option.TLSConfig on the client)")

// ErrConnectionRefused is wrapped by the error of a Dial that the server refused: it is
// shutting down (its listener is closed), or has too many connections waiting to be
// accepted. The error also wraps quic-go's *quic.TransportError.
var ErrConnectionRefused = errors.New("brisk/transport/quic: the server refused the connection (it is shutting down or overloaded)")

// appCloseCode is the QUIC application error code of a connection closed by Close.
const appCloseCode quicgo.ApplicationErrorCode = 0

// appShutdownCode is the QUIC application error code of a connection whose handshake
// completed after its listener was closed; the reason is shutdownReason.
const appShutdownCode quicgo.ApplicationErrorCode = 1

const shutdownReason = "brisk: server is shutting down"

// errShuttingDown makes quic-go refuse a new connection to a closed listener.
var errShuttingDown = errors.New(shutdownReason)

func quicConfig(cfg *quicgo.Config) *quicgo.Config {
	if cfg == nil {
		return &quicgo.Config{KeepAlivePeriod: DefaultKeepAlive}
	}
	return cfg.Clone()
}

func tlsConfig(cfg *tls.Config) (*tls.Config, error) {
	if cfg == nil {
		return nil, ErrNoTLSConfig
	}
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = DefaultNextProtos()
	}
	return cfg, nil
}

// Dial returns a client.DialFunc that opens a QUIC connection (its TLS 1.3 handshake bounded
// by the dial context) to the address and then its one stream. The client Option must
// have a TLSConfig. cfg may be nil (see the package doc).
func Dial(cfg *quicgo.Config) client.DialFunc {
	return func(ctx context.Context, _, address string, opt *client.Option) (net.Conn, error) {
		tc, err := tlsConfig(opt.TLSConfig)
		if err != nil {
			return nil, err
		}
		qc, err := quicgo.DialAddr(ctx, address, tc, quicConfig(cfg))
		if err != nil {
			var te *quicgo.TransportError
			if errors.As(err, &te) && te.Remote && te.ErrorCode == quicgo.ConnectionRefused {
				err = fmt.Errorf("%w: %w", ErrConnectionRefused, err)
			}
			return nil, err
		}
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			_ = qc.CloseWithError(appCloseCode, "")
			return nil, err
		}
		return newConn(qc, st, nil), nil
	}
}

// Listen returns a server.ListenFunc that listens for QUIC connections on a UDP address,
// with the server's TLS config (required). cfg may be nil (see the package doc). The
// listener returns a connection once its peer has opened its stream; a slow peer does not
// hold up the others.
func Listen(cfg *quicgo.Config) server.ListenFunc {
	return func(ctx context.Context, _, address string, tlsConf *tls.Config) (net.Listener, error) {
		tc, err := tlsConfig(tlsConf)
		if err != nil {
			return nil, err
		}
		var lc net.ListenConfig
		pc, err := lc.ListenPacket(ctx, "udp", address)
		if err != nil {
			return nil, err
		}
		l := &listener{pc: pc, loopDone: make(chan struct{})}
		l.tr = &quicgo.Transport{Conn: pc, ConnContext: l.connContext}
		l.ql, err = l.tr.Listen(tc, quicConfig(cfg))
		if err != nil {
			_ = l.tr.Close()
			_ = pc.Close()
			return nil, err
		}
		l.q = acceptq.New(l.closeTransport)
		go l.acceptLoop()
		return l, nil
	}
}

// listener accepts QUIC connections and, in a goroutine per connection, their first
// stream; connections whose stream is open are handed to Accept through q, which also
// keeps the UDP socket open until the last accepted connection has closed.
//
// The quic-go listener ql lives as long as the socket: once the listener is closed
// (closing), quic-go refuses new connections through connContext, and acceptLoop closes
// those whose handshake was already under way.
type listener struct {
	pc       net.PacketConn
	tr       *quicgo.Transport
	ql       *quicgo.Listener
	q        *acceptq.Queue
	closing  atomic.Bool
	loopDone chan struct{} // closed when acceptLoop returns
}

// connContext is the transport's ConnContext: it refuses every new connection (quic-go
// answers CONNECTION_REFUSED) once the listener is closed.
func (l *listener) connContext(ctx context.Context, _ *quicgo.ClientInfo) (context.Context, error) {
	if l.closing.Load() {
		return nil, errShuttingDown
	}
	return ctx, nil
}

// acceptLoop accepts QUIC connections until quic-go's listener is closed (closeTransport)
// or the socket fails. After Close, it closes at once the connections whose handshake
// completed, as they can no longer be accepted.
func (l *listener) acceptLoop() {
	defer close(l.loopDone)
	for {
		qc, err := l.ql.Accept(context.Background())
		if err != nil {
			// The socket failed (nothing more will come; Accept reports it), or
			// closeTransport closed ql after Close (then Fail does nothing).
			l.q.Fail(err)
			return
		}
		if !l.q.Go(func(ctx context.Context) { l.acceptStream(ctx, qc) }) {
			_ = qc.CloseWithError(appShutdownCode, shutdownReason)
		}
	}
}

// acceptStream waits for qc's first stream and hands the connection to Accept.
func (l *listener) acceptStream(ctx context.Context, qc *quicgo.Conn) {
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		if ctx.Err() != nil { // the listener was closed first
			_ = qc.CloseWithError(appShutdownCode, shutdownReason)
		} else {
			_ = qc.CloseWithError(appCloseCode, "")
		}
		return
	}
	if !l.q.Admit() { // closed, or the socket failed
		st.CancelRead(0)
		if l.closing.Load() {
			_ = qc.CloseWithError(appShutdownCode, shutdownReason)
		} else {
			_ = qc.CloseWithError(appCloseCode, "")
		}
		return
	}
	c := newConn(qc, st, l.q.Release)
	if !l.q.Deliver(c) {
		c.abort()
	}
}

// closeTransport closes the QUIC listener, transport and UDP socket, and waits for
// acceptLoop; the Queue calls it once, when the listener is closed and its last accepted
// connection has finished closing.
func (l *listener) closeTransport() {
	_ = l.ql.Close()
	_ = l.tr.Close()
	_ = l.pc.Close()
	<-l.loopDone
}

// Accept returns the next connection whose stream is open.
func (l *listener) Accept() (net.Conn, error) { return l.q.Accept() }

// Close stops accepting, closes the connections not yet returned by Accept and waits for
// the goroutines preparing them. Connections already returned stay open; the UDP socket
// (and the goroutine accepting on it) lasts until the last of them is closed, and
// meanwhile refuses new connections.
func (l *listener) Close() error {
	l.closing.Store(true)
	return l.q.Close()
}

// Addr returns the UDP address the listener is bound to.
func (l *listener) Addr() net.Addr { return l.pc.LocalAddr() }

// conn is one QUIC connection and its stream as a net.Conn.
type conn struct {
	qc      *quicgo.Conn
	st      *quicgo.Stream
	release func() // tells the listener the connection has finished closing; nil if dialled

	closed    atomic.Bool
	closeOnce sync.Once
	readMu    sync.Mutex  // held during a stream read, so the closer can take over reading
	peerEOF   atomic.Bool // the peer ended its side of the stream
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream, release func()) *conn {
	return &conn{qc: qc, st: st, release: release}
}

// Read reads from the stream. It returns io.EOF once the peer has closed its side, and
// net.ErrClosed after Close.
func (c *conn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.readMu.Lock()
	n, err := c.st.Read(p)
	c.readMu.Unlock()
	if err != nil {
		if errors.Is(err, io.EOF) {
			c.peerEOF.Store(true)
		}
		if c.closed.Load() {
			err = net.ErrClosed
		}
	}
	return n, err
}

// Write writes to the stream; it returns net.ErrClosed after Close.
func (c *conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.st.Write(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Close ends the stream after the data already written and returns; the QUIC connection
// is closed in the background once the peer has ended its side (see the package doc).
// Reads and writes blocked in other goroutines return net.ErrClosed.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		c.closed.Store(true)
		_ = c.st.SetWriteDeadline(time.Time{})
		_ = c.st.SetReadDeadline(time.Unix(1, 0)) // wake a blocked Read
		_ = c.st.Close()                          // FIN after the buffered data
		go c.linger()
	})
	return err
}

// linger waits until both sides of the stream are complete, then closes the connection.
// Whoever sees the other's FIN after sending its own closes the QUIC connection; the
// other side waits for that (or CloseTimeout).
func (c *conn) linger() {
	timer := time.NewTimer(CloseTimeout)
	defer timer.Stop()
	c.readMu.Lock() // a Read woken by Close has returned
	if c.peerEOF.Load() {
		c.readMu.Unlock()
		select {
		case <-c.qc.Context().Done():
		case <-timer.C:
		}
	} else {
		_ = c.st.SetReadDeadline(time.Now().Add(CloseTimeout))
		_, _ = io.Copy(io.Discard, c.st) // until the peer's FIN (nil error) or a failure
		c.readMu.Unlock()
	}
	c.finish()
}

// abort closes a connection Accept never returned.
func (c *conn) abort() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.st.CancelRead(0)
		c.finish()
	})
}

func (c *conn) finish() {
	_ = c.qc.CloseWithError(appCloseCode, "")
	if c.release != nil {
		c.release()
	}
}

// LocalAddr returns the local UDP address.
func (c *conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr returns the peer's UDP address.
func (c *conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// SetDeadline sets the stream's read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.st.SetDeadline(t)
}

// SetReadDeadline sets the stream's read deadline.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.st.SetReadDeadline(t)
}

// SetWriteDeadline sets the stream's write deadline.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.st.SetWriteDeadline(t)
}

// ConnectionState returns the QUIC connection's state, its TLS state (negotiated ALPN,
// peer certificates) included.
func (c *conn) ConnectionState() quicgo.ConnectionState { return c.qc.ConnectionState() }
