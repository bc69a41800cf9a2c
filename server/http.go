package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

// RPCXPath is where a server accepts HTTP CONNECT and WebSocket connections that then carry
// native frames, as rpcx servers do.
const RPCXPath = "/_rpcx_"

// connectedReply is rpcx's answer to a CONNECT, byte for byte.
const connectedReply = "HTTP/1.0 200 Connected to rpcx\n\n"

// WithHTTPHandler sets what answers HTTP requests on the server's tcp ports (other than
// CONNECT and WebSocket at /_rpcx_, which the server keeps). The default is the HTTP
// gateway and JSON-RPC 2.0 over this server's services (gateway.New(server)); wrap it to
// add CORS or an admin page, or pass nil to answer no HTTP at all (non-native connections
// are then closed).
func WithHTTPHandler(h http.Handler) Option {
	return func(s *Server) {
		s.httpHandler = h
		s.httpSet = true
	}
}

// httpFront serves the HTTP connections a server's listeners accept: connections whose
// first byte is not a frame's magic number are handed to one net/http server, started on
// first use.
type httpFront struct {
	srv  *http.Server
	ln   *handoffListener
	done chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
}

func newHTTPFront(s *Server, h http.Handler) *httpFront {
	f := &httpFront{ln: newHandoffListener(), done: make(chan struct{})}
	f.srv = &http.Server{
		Handler:           s.rpcxHTTP(h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	return f
}

// serve hands nc to the HTTP server.
func (f *httpFront) serve(nc net.Conn) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = nc.Close()
		return
	}
	if !f.started {
		f.started = true
		go func() {
			defer close(f.done)
			_ = f.srv.Serve(f.ln)
		}()
	}
	f.mu.Unlock()
	if !f.ln.deliver(nc) {
		_ = nc.Close()
	}
}

// stop ends the HTTP server: gracefully (requests in flight finish until ctx ends) or, with
// a nil ctx, at once.
func (f *httpFront) stop(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	started := f.started
	f.mu.Unlock()
	var err error
	if started {
		if ctx != nil {
			err = f.srv.Shutdown(ctx)
		}
		if ctx == nil || err != nil {
			_ = f.srv.Close()
		}
	}
	_ = f.ln.Close()
	if started {
		<-f.done
	}
	return err
}

// rpcxHTTP answers CONNECT and WebSocket upgrades at /_rpcx_ by serving native frames on
// the connection, and passes every other request to next.
func (s *Server) rpcxHTTP(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RPCXPath {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case r.Method == http.MethodConnect:
			s.acceptConnect(w)
		case r.Method == http.MethodGet && r.Header.Get("Upgrade") != "":
			s.acceptWebSocket(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) acceptConnect(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "brisk: CONNECT needs HTTP/1", http.StatusHTTPVersionNotSupported)
		return
	}
	nc, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{}) // the HTTP server's timeouts no longer apply
	if _, err := io.WriteString(nc, connectedReply); err != nil {
		_ = nc.Close()
		return
	}
	if rw.Reader.Buffered() > 0 {
		nc = &peekedConn{Conn: nc, r: rw.Reader}
	}
	s.serveConn(nc)
}

func (s *Server) acceptWebSocket(w http.ResponseWriter, r *http.Request) {
	wc, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	// The connection lives on after this handler returns; it ends with the server.
	s.serveConn(websocket.NetConn(context.Background(), wc, websocket.MessageBinary))
}

// peekedConn is a connection whose first bytes were read into r already.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// isNative reports whether a connection whose first byte is b speaks native frames.
func isNative(b byte) bool { return b == protocol.MagicNumber }

// handoffListener is a net.Listener whose connections are handed to it by the server's
// own listeners once they turn out to speak HTTP.
type handoffListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *handoffListener) deliver(nc net.Conn) bool {
	select {
	case l.ch <- nc:
		return true
	case <-l.closed:
		return false
	}
}

// Accept implements net.Listener.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.ch:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "brisk-http" }
func (handoffAddr) String() string  { return "brisk-http" }

// defaultHTTPHandler answers HTTP requests when WithHTTPHandler is not used: rpcx's HTTP
// invoke and JSON-RPC 2.0 over the server's own services.
func defaultHTTPHandler(s *Server) http.Handler { return gateway.New(s) }
