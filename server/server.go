// Package server serves plain Go methods over the rpcx wire protocol.
//
// A service is any value with exported methods of the form
//
//	func (t *T) Name(ctx context.Context, args *A, reply *R) error
//
// (args may also be a value type). Register it and serve:
//
//	s := server.NewServer()
//	s.RegisterName("Arith", new(Arith), "")
//	s.Serve("tcp", ":8972")
//
// Each connection has one read loop with a large buffered reader; each request runs in its
// own goroutine so a slow handler never blocks the connection; responses from all handlers
// of a connection are coalesced into as few writes as possible.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/protocol"
)

// ErrServerClosed is returned by Serve and ServeListener after Shutdown or Close.
var ErrServerClosed = errors.New("brisk: server closed")

// AuthFunc checks a request's auth token (the __AUTH metadata value). A non-nil error is
// sent back to the caller and the connection is closed.
type AuthFunc func(ctx context.Context, req *protocol.Message, token string) error

// Option configures a Server.
type Option func(*Server)

// WithMaxMessageSize limits the size of a request frame and of a decompressed payload
// (default protocol.DefaultMaxMessageSize, 64 MiB). Larger frames close the connection.
func WithMaxMessageSize(n int) Option { return func(s *Server) { s.maxMessageSize = n } }

// WithAuthFunc makes every request (but heartbeats) pass fn first.
func WithAuthFunc(fn AuthFunc) Option { return func(s *Server) { s.auth = fn } }

// WithLogger sets where the server reports connection errors and handler panics. By default
// it reports nothing.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithTLSConfig makes Serve wrap its listener in TLS.
func WithTLSConfig(cfg *tls.Config) Option { return func(s *Server) { s.tlsConfig = cfg } }

// WithReadTimeout closes a connection that sends nothing for d (default: never). Clients
// that send heartbeats keep their connections alive.
func WithReadTimeout(d time.Duration) Option { return func(s *Server) { s.readTimeout = d } }

// WithCodecs replaces the table of codecs the server decodes requests with.
func WithCodecs(set *codec.Set) Option { return func(s *Server) { s.codecs = set } }

// WithMaxWriteBacklog bounds the answers a connection may have waiting to be sent (default
// 16 MiB): past it the server stops reading that client's requests until the client reads,
// so a client that never reads cannot make the server buffer without limit. 0 or less
// removes the bound.
func WithMaxWriteBacklog(n int) Option { return func(s *Server) { s.maxBacklog = n } }

// WithStreamWindow sets how many bytes of a client's messages the server may hold for each
// stream before the stream's method receives them (default 1 MiB; at least 256 KiB). A
// larger window lets one stream go faster over a long link, at the price of memory per
// stream.
func WithStreamWindow(n int) Option { return func(s *Server) { s.streamWindow = int64(n) } }

// WithReadBufferSize sets the per-connection read buffer (default 32 KiB).
func WithReadBufferSize(n int) Option { return func(s *Server) { s.readBufferSize = n } }

// Server serves registered services on any number of listeners.
type Server struct {
	maxMessageSize int
	auth           AuthFunc
	logger         *slog.Logger
	tlsConfig      *tls.Config
	readTimeout    time.Duration
	codecs         *codec.Set
	readBufferSize int
	workers        *workers
	registrars     []Registrar
	listenFuncs    map[string]ListenFunc
	reusePort      bool
	httpHandler    http.Handler
	middleware     []Middleware
	chain          Handler
	connHooks      []ConnHooks
	maxPerConn     int64
	pushPolicy     PushPolicy
	maxBacklog     int
	reflection     reflectionCache // what protocol.ReflectionService answers (reflection.go)
	streamWindow   int64
	topicMu        sync.RWMutex
	topics         map[string]map[*conn]struct{}
	httpSet        bool
	http           *httpFront // nil: HTTP disabled
	withdrawOnce   sync.Once

	regMu    sync.Mutex                          // serialises registrations
	services atomic.Pointer[map[string]*service] // copied on write, read without locks

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]*conn
	sniffing  map[net.Conn]struct{} // accepted, first byte not read yet
	closing   bool
	connWG    sync.WaitGroup // one per connection read loop
	drained   chan struct{}  // closed when the last connection ends during shutdown
}

// NewServer returns a server with the given options.
func NewServer(opts ...Option) *Server {
	s := &Server{
		maxMessageSize: protocol.DefaultMaxMessageSize,
		logger:         slog.New(slog.DiscardHandler),
		codecs:         codec.NewSet(),
		readBufferSize: 32 << 10,
		maxBacklog:     16 << 20,
		streamWindow:   flow.DefaultWindow,
		listeners:      make(map[net.Listener]struct{}),
		conns:          make(map[net.Conn]*conn),
		sniffing:       make(map[net.Conn]struct{}),
		workers:        newWorkers(),
	}
	for _, o := range opts {
		o(s)
	}
	s.pushPolicy = s.pushPolicy.withDefaults()
	s.buildChain()
	if !s.httpSet {
		s.httpHandler = defaultHTTPHandler(s)
	}
	if s.httpHandler != nil {
		s.http = newHTTPFront(s, s.httpHandler)
	}
	empty := map[string]*service{}
	s.services.Store(&empty)
	return s
}

// Register publishes rcvr's methods under the name of its concrete type.
func (s *Server) Register(rcvr any, metadata string) error {
	t := reflectName(rcvr)
	return s.RegisterName(t, rcvr, metadata)
}

// RegisterName publishes rcvr's methods under name. metadata is the URL-query string a
// registry plugin advertises for it (for example "weight=10&group=a").
func (s *Server) RegisterName(name string, rcvr any, metadata string) error {
	svc, err := newService(name, rcvr, metadata)
	if err != nil {
		return err
	}
	return s.addMethods(name, metadata, svc.methods)
}

// RegisterFunction publishes fn, a func(ctx, args, reply) error, as servicePath.<its name>.
func (s *Server) RegisterFunction(servicePath string, fn any, metadata string) error {
	name, mt, err := newFunction(servicePath, fn)
	if err != nil {
		return err
	}
	return s.addMethods(servicePath, metadata, map[string]*methodType{name: mt})
}

// RegisterFunctionName publishes fn, a func(ctx, args, reply) error, as servicePath.name.
func (s *Server) RegisterFunctionName(servicePath, name string, fn any, metadata string) error {
	mt, err := checkFunc(servicePath, name, fn)
	if err != nil {
		return err
	}
	return s.addMethods(servicePath, metadata, map[string]*methodType{name: mt})
}

// addMethods merges methods into the service table, copying it so readers never lock.
func (s *Server) addMethods(name, metadata string, methods map[string]*methodType) error {
	if name == "" {
		return &RegistrationError{Service: name, Reason: "empty service name"}
	}
	if strings.HasPrefix(name, reservedPrefix) {
		return &RegistrationError{Service: name, Reason: "names starting with " + reservedPrefix + " are reserved"}
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old := *s.services.Load()
	next := make(map[string]*service, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	merged := &service{name: name, metadata: metadata, methods: make(map[string]*methodType)}
	if prev := old[name]; prev != nil {
		for k, v := range prev.methods {
			merged.methods[k] = v
		}
		if metadata == "" {
			merged.metadata = prev.metadata
		}
	}
	for k, v := range methods {
		if _, dup := merged.methods[k]; dup {
			return &RegistrationError{Service: name, Method: k, Reason: "already registered"}
		}
		merged.methods[k] = v
	}
	next[name] = merged
	s.services.Store(&next)
	return s.advertise(name, merged.metadata)
}

// Services returns the registered service names and their metadata strings.
func (s *Server) Services() map[string]string {
	out := make(map[string]string)
	for k, v := range *s.services.Load() {
		out[k] = v.metadata
	}
	return out
}

// Serve listens on network and address and serves until Shutdown or Close, when it
// returns ErrServerClosed. Networks: tcp, tcp4, tcp6, unix, http, ws, wss and those added
// with WithListenFunc. A tcp port also answers HTTP on the same port: the HTTP gateway and
// JSON-RPC (see WithHTTPHandler), HTTP CONNECT and WebSocket at /_rpcx_.
func (s *Server) Serve(network, address string) error {
	ln, err := s.listen(context.Background(), network, address)
	if err != nil {
		return err
	}
	return s.ServeListener(ln)
}

// ServeListener serves connections accepted from ln until Shutdown or Close.
func (s *Server) ServeListener(ln net.Listener) error {
	if ln == nil {
		return errors.New("brisk: ServeListener with a nil listener")
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait and try again, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("brisk: accept failed; retrying", "err", err, "delay", backoff)
				timer := time.NewTimer(backoff)
				<-timer.C
				continue
			}
			return err
		}
		backoff = 0
		if nc = s.hook(nc); nc != nil {
			s.serveConn(nc)
		}
	}
}

// Addresses returns the addresses of the listeners being served.
func (s *Server) Addresses() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for ln := range s.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serveConn serves an accepted connection: native frames, or HTTP (the gateway, CONNECT,
// WebSocket) told apart by its first byte.
func (s *Server) serveConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	} else if hc, ok := nc.(*hookedConn); ok {
		if tc, ok := hc.raw.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.sniffing[nc] = struct{}{}
	s.connWG.Add(1) // Done by removeConn, or below if the connection is not native
	s.mu.Unlock()
	go s.sniff(nc)
}

// sniff reads the first byte of nc and starts the native read loop or hands nc to HTTP.
func (s *Server) sniff(nc net.Conn) {
	br := bufio.NewReaderSize(nc, s.readBufferSize)
	if s.readTimeout > 0 {
		_ = nc.SetReadDeadline(time.Now().Add(s.readTimeout))
	}
	first, err := br.Peek(1)
	s.mu.Lock()
	delete(s.sniffing, nc)
	native := err == nil && (isNative(first[0]) || s.http == nil)
	if s.closing && native {
		// Shutdown began while this client was sending its first request: answer it
		// "shutting down" (which clients may retry elsewhere) rather than drop it unread.
		c := newConn(s, nc)
		c.draining.Store(true)
		s.conns[nc] = c
		s.mu.Unlock()
		c.serve(br)
		return
	}
	if err != nil || s.closing || !native {
		s.connWG.Done()
		s.mu.Unlock()
		if err == nil && !s.isClosing() && s.http != nil {
			_ = nc.SetReadDeadline(time.Time{})
			s.http.serve(&peekedConn{Conn: nc, r: br})
			return
		}
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[nc] = c
	s.mu.Unlock()
	c.serve(br)
}

// firstRequestGrace is how long Shutdown waits for the first request of a connection it
// accepted but has not read from yet.
const firstRequestGrace = 500 * time.Millisecond

// removeConn forgets c once its read loop has ended.
func (s *Server) removeConn(c *conn) {
	s.unsubscribeAll(c)
	s.mu.Lock()
	delete(s.conns, c.nc)
	if s.closing && len(s.conns) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	s.connWG.Done()
}

// beginClose stops accepting: it marks the server closing, lets drain (if non-nil) mark each
// open connection, closes every listener and returns the open connections. Doing all of it
// under one lock means no connection can end unnoticed between the steps.
func (s *Server) beginClose(drain func(*conn)) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	if drain != nil {
		// Drain before closing the listeners, so that once a dial is refused every open
		// connection already rejects new calls.
		for _, c := range conns {
			drain(c)
		}
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for nc := range s.sniffing {
		if drain == nil {
			_ = nc.Close()
			continue
		}
		// Has sent nothing yet. Give a request on its way a moment to arrive, so that it
		// is answered "shutting down" instead of finding the connection closed.
		_ = nc.SetReadDeadline(time.Now().Add(firstRequestGrace))
	}
	return conns
}

// Shutdown withdraws the server from its registries (see WithRegistrar), stops accepting
// connections and requests, lets the calls in flight finish and send their responses, then
// closes every connection. If ctx ends first, the remaining connections are closed at once
// (their handlers see their contexts cancelled) and ctx's error is returned. An error from a
// registry is returned if nothing else went wrong.
func (s *Server) Shutdown(ctx context.Context) error {
	regErr := s.withdraw(ctx)
	s.mu.Lock()
	drained := s.drained
	if drained == nil {
		drained = make(chan struct{})
		if len(s.conns) == 0 {
			close(drained)
		} else {
			s.drained = drained
		}
	}
	s.mu.Unlock()
	// Between the unlock above and beginClose a connection may end; removeConn only closes
	// drained once closing is set, so check again after it is.
	s.beginClose((*conn).drain)
	s.mu.Lock()
	if len(s.conns) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.stopHTTP(ctx) }()
	select {
	case <-drained:
		s.connWG.Wait()
		s.workers.stop()
		return errors.Join(regErr, <-httpDone)
	case <-ctx.Done():
		s.closeConns()
		s.connWG.Wait()
		<-httpDone
		go s.workers.stop() // handlers still running see their contexts cancelled
		return ctx.Err()
	}
}

// Close withdraws the server from its registries, then closes every listener and
// connection at once. Calls in flight get no response.
func (s *Server) Close() error {
	regErr := s.withdraw(context.Background())
	s.beginClose(nil)
	_ = s.stopHTTP(nil)
	s.closeConns()
	s.connWG.Wait()
	s.workers.stop()
	return regErr
}

// stopHTTP stops the HTTP front, gracefully until ctx ends, or at once for a nil ctx.
func (s *Server) stopHTTP(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	return s.http.stop(ctx)
}

func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// ActiveClientConn returns the connections currently open.
func (s *Server) ActiveClientConn() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Conn, 0, len(s.conns))
	for nc := range s.conns {
		out = append(out, nc)
	}
	return out
}

// ErrUnknownConn is returned by SendMessage for a connection the server does not hold.
var ErrUnknownConn = errors.New("brisk: connection is not open on this server")

// SendMessage pushes a message to the client on nc (a connection from RemoteConn or
// ActiveClientConn). The client receives it as a oneway request with a raw payload. Pushes
// to one connection arrive in the order SendMessage was called; a client that reads them
// too slowly is handled by the server's PushPolicy (see WithPushPolicy).
func (s *Server) SendMessage(nc net.Conn, servicePath, serviceMethod string, metadata map[string]string, data []byte) error {
	s.mu.Lock()
	c := s.conns[nc]
	s.mu.Unlock()
	if c == nil {
		return ErrUnknownConn
	}
	return c.push(servicePath, serviceMethod, metadata, data)
}
