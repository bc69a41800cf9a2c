package main

// Targets: how every subcommand (call, list, bench, gateway) reaches a server.
//
// An address is one of
//
//	host:port                      tcp
//	network@host:port              tcp, tcp4, tcp6, http, ws, wss, quic, kcp
//	unix@/path/to/socket           a unix socket
//	etcd://host:2379[,host:2379]/base/Service        servers discovered in a registry
//	zookeeper://host:2181/base/Service
//	redis://[:password@]host:6379/base/Service
//	consul://host:8500/base/Service
//	mdns:///Service                (multicast DNS on the local network; base path ignored)
//
// In a registry URL the last path element is the service and the rest the base path
// ("/rpcx_test" when empty); a URL ending in "/" (etcd://host:2379/a/b/) names only a base
// path. When a call names its service (Service.Method) the URL's service, if any, must be the
// same.
//
// The internal API, shared with bench.go:
//
//	var o connFlags
//	o.register(cmd.Flags())                        // --tls --ca --cert --key --insecure
//	                                               // --server-name --auth --connect-timeout
//	c, err := openTarget(ctx, addr, "Arith", o)    // dials (or discovers) before returning
//	defer c.Close()
//	reply, resMD, err := c.Invoke(ctx, "Mul", payload, protocol.JSON, md)
//
// openTarget returns a caller bound to one service: a single multiplexed connection for a
// plain address (safe for concurrent use; open several callers for several connections),
// or an XClient (Failover, RoundRobin) over the registry's servers for a registry URL, after
// the registry listed at least one server. Invoke sends payload, already encoded with the
// given serialize type, as is (see codec.go: parseCodec, encodeJSONArgs, replyToJSON) and
// returns the reply payload and the response metadata. Its errors: a client.ServiceError
// when the server answered with an error (unknown service or method, refused auth, the
// handler's error); anything else is a transport, dial or timeout error. exitCodeOf maps
// an error to the command's exit code.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/registry"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// caller makes raw calls to one service of a target. It is safe for concurrent use.
type caller interface {
	// Invoke calls method of the caller's service with payload encoded as st, with md as
	// request metadata (may be nil), and returns the reply payload and response metadata.
	// A server-side failure is a client.ServiceError.
	Invoke(ctx context.Context, method string, payload []byte, st protocol.SerializeType, md map[string]string) (reply []byte, resMD map[string]string, err error)
	// Close releases the connection or the XClient and its discovery.
	Close() error
}

// connFlags are the connection flags shared by the subcommands that reach a server.
type connFlags struct {
	TLS            bool          // use TLS (implied by CA, Cert, Key, Insecure, and by wss and quic)
	CA             string        // PEM file of the CAs to verify the server with (default: the system's)
	Cert, Key      string        // PEM files of a client certificate and its key
	Insecure       bool          // do not verify the server's certificate
	ServerName     string        // name to verify the server's certificate against (default: the host)
	Auth           string        // token sent as __AUTH with every call
	ConnectTimeout time.Duration // bounds dialling and, for registry URLs, the first listing
}

// register adds the connection flags to fs, with their defaults.
func (o *connFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.TLS, "tls", false, "connect with TLS")
	fs.StringVar(&o.CA, "ca", "", "PEM `file` of CA certificates to verify the server (implies --tls)")
	fs.StringVar(&o.Cert, "cert", "", "PEM `file` of the client certificate (implies --tls; needs --key)")
	fs.StringVar(&o.Key, "key", "", "PEM `file` of the client certificate's private key")
	fs.BoolVar(&o.Insecure, "insecure", false, "skip verification of the server's certificate (implies --tls)")
	fs.StringVar(&o.ServerName, "server-name", "", "`name` to verify the server certificate against (default: the address's host)")
	fs.StringVar(&o.Auth, "auth", "", "auth `token` sent with every call (__AUTH metadata)")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 5*time.Second, "bound on dialling and on the registry's first listing")
}

// wantsTLS reports whether the flags ask for TLS.
func (o connFlags) wantsTLS() bool {
	return o.TLS || o.CA != "" || o.Cert != "" || o.Key != "" || o.Insecure
}

// tlsConfig builds the client TLS configuration. Without --server-name the dialers verify
// the certificate against the host they dial.
func (o connFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.Insecure} // #nosec G402 -- --insecure is the user's explicit choice
	if o.CA != "" {
		pem, err := os.ReadFile(o.CA)
		if err != nil {
			return nil, usageErrorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca: no PEM certificate in %s", o.CA)
		}
		cfg.RootCAs = pool
	}
	if (o.Cert == "") != (o.Key == "") {
		return nil, usageErrorf("--cert and --key go together")
	}
	if o.Cert != "" {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, usageErrorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// clientOption is the client.Option for network with these flags: the JSON codec by default
// (Invoke sets each request's own), TLS, auth, and the quic and kcp dialers.
func (o connFlags) clientOption(network string) (client.Option, error) {
	opt := client.DefaultOption
	opt.SerializeType = protocol.JSON
	if o.ConnectTimeout > 0 {
		opt.ConnectTimeout = o.ConnectTimeout
	}
	opt.AuthToken = o.Auth
	opt.Dialers = map[string]client.DialFunc{
		"quic": briskquic.Dial(nil),
		"kcp":  briskkcp.Dial(),
	}
	if o.wantsTLS() || network == "wss" || network == "quic" {
		cfg, err := o.tlsConfig()
		if err != nil {
			return opt, err
		}
		opt.TLSConfig = cfg
	}
	return opt, nil
}

// isRegistryURL reports whether addr is a registry URL rather than a server address.
func isRegistryURL(addr string) bool {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok {
		return false
	}
	_, known := registrySchemes[scheme]
	return known
}

// networks are the networks a plain address may name.
var networks = []string{"tcp", "tcp4", "tcp6", "unix", "http", "ws", "wss", "quic", "kcp"}

// parseServerAddress splits a plain address into network and address (tcp by default).
func parseServerAddress(addr string) (network, address string, err error) {
	if addr == "" {
		return "", "", usageErrorf("empty address")
	}
	if strings.Contains(addr, "://") {
		scheme, _, _ := strings.Cut(addr, "://")
		return "", "", usageErrorf("unknown registry scheme %q in %q (want etcd, zookeeper, redis, consul or mdns)", scheme, addr)
	}
	network, address, err = discovery.ParseAddress(addr)
	if err != nil {
		return "", "", withCode(exitUsage, fmt.Errorf("address %q: %w", addr, err))
	}
	if !slices.Contains(networks, network) {
		return "", "", usageErrorf("address %q: unknown network %q (want %s)", addr, network, strings.Join(networks, ", "))
	}
	return network, address, nil
}

// openTarget connects to addr for calls to service (see the file comment). A bad address or
// bad flags is a usage error; a failed dial, an unreachable registry or a registry that lists
// no server of service within --connect-timeout is a transport error.
func openTarget(ctx context.Context, addr, service string, o connFlags) (caller, error) {
	if service == "" {
		return nil, usageErrorf("no service to call")
	}
	if isRegistryURL(addr) {
		u, err := parseRegistryURL(addr)
		if err != nil {
			return nil, err
		}
		if u.Service != "" && u.Service != service {
			return nil, usageErrorf("the URL names service %q but the call is to %q", u.Service, service)
		}
		reg, err := openRegistry(ctx, u, o.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		pool := newXPool(reg.discovery, o)
		x, err := pool.get(ctx, service)
		if err != nil {
			pool.Close()
			reg.Close()
			return nil, err
		}
		return &rawCaller{service: service, inv: x, close: func() error {
			err := pool.Close()
			reg.Close()
			return err
		}}, nil
	}
	c, err := dialDirect(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	return &rawCaller{service: service, inv: c, close: c.Close}, nil
}

// dialDirect opens one client connection to a plain address.
func dialDirect(ctx context.Context, addr string, o connFlags) (*client.Client, error) {
	network, address, err := parseServerAddress(addr)
	if err != nil {
		return nil, err
	}
	opt, err := o.clientOption(network)
	if err != nil {
		return nil, err
	}
	c := client.NewClient(opt)
	if err := c.ConnectContext(ctx, network, address); err != nil {
		return nil, withCode(exitTransport, fmt.Errorf("connect %s: %w", addr, err))
	}
	return c, nil
}

// rawCaller is a caller over any gateway.Invoker (a Client or an XClient).
type rawCaller struct {
	service string
	inv     gateway.Invoker
	close   func() error
}

func (r *rawCaller) Invoke(ctx context.Context, method string, payload []byte, st protocol.SerializeType, md map[string]string) ([]byte, map[string]string, error) {
	req := protocol.NewMessage()
	req.SetSerializeType(st)
	req.ServicePath = r.service
	req.ServiceMethod = method
	req.Metadata = md
	req.Payload = payload
	resp, err := r.inv.Invoke(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if resp == nil {
		return nil, nil, nil
	}
	if resp.MessageStatusType() == protocol.Error {
		text := resp.Metadata[protocol.ServiceError]
		if text == "" {
			text = "the server answered with an error and no message"
		}
		return nil, resp.Metadata, client.ServiceError(text)
	}
	return resp.Payload, resp.Metadata, nil
}

func (r *rawCaller) Close() error { return r.close() }

// exitCodeOf maps a command error to its exit code: exitError's own code, exitService for a
// service error, exitTransport for anything else.
func exitCodeOf(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case client.IsServiceError(err):
		return exitService
	}
	return exitTransport
}

// classify wraps err with its exit code (see exitCodeOf).
func classify(err error) error {
	if err == nil {
		return nil
	}
	return withCode(exitCodeOf(err), err)
}

// discoveryFunc returns a discovery of one service's servers; its Close stops it.
type discoveryFunc func(service string) (discovery.Discovery, error)

// xPool keeps one XClient per service over discoveries from newDisc, created on first use:
// the standalone gateway routes each request by its service, and a registry target is a
// pool of one.
type xPool struct {
	newDisc discoveryFunc
	o       connFlags
	only    string // if set, the one service Invoke forwards

	mu      sync.Mutex
	entries map[string]*xEntry
	closed  bool
}

type xEntry struct {
	ready chan struct{} // closed once x and err are set
	x     *client.XClient
	d     discovery.Discovery
	err   error
}

func newXPool(newDisc discoveryFunc, o connFlags) *xPool {
	return &xPool{newDisc: newDisc, o: o, entries: make(map[string]*xEntry)}
}

// get returns service's XClient, creating it and waiting (bounded by ctx and
// --connect-timeout) for the discovery to list at least one server the first time.
func (p *xPool) get(ctx context.Context, service string) (*client.XClient, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, client.ErrShutdown
	}
	e, ok := p.entries[service]
	if !ok {
		e = &xEntry{ready: make(chan struct{})}
		p.entries[service] = e
		p.mu.Unlock()
		e.x, e.d, e.err = p.open(ctx, service)
		if e.err != nil {
			p.mu.Lock()
			delete(p.entries, service) // the next request tries again
			p.mu.Unlock()
		}
		close(e.ready)
	} else {
		p.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.x, e.err
}

func (p *xPool) open(ctx context.Context, service string) (*client.XClient, discovery.Discovery, error) {
	d, err := p.newDisc(service)
	if err != nil {
		return nil, nil, err
	}
	if err := waitListed(ctx, d, service, p.o.ConnectTimeout); err != nil {
		closeDiscovery(d)
		return nil, nil, err
	}
	network := ""
	if s := d.Servers(); len(s) > 0 {
		network = s[0].Network
	}
	opt, err := p.o.clientOption(network)
	if err != nil {
		closeDiscovery(d)
		return nil, nil, err
	}
	return client.NewXClient(service, client.Failover, client.RoundRobin, d, opt), d, nil
}

// Close closes every XClient and discovery of the pool.
func (p *xPool) Close() error {
	p.mu.Lock()
	p.closed = true
	entries := p.entries
	p.entries = nil
	p.mu.Unlock()
	var errs []error
	for _, e := range entries {
		<-e.ready
		if e.err == nil {
			errs = append(errs, e.x.Close())
			closeDiscovery(e.d)
		}
	}
	return errors.Join(errs...)
}

// Invoke implements gateway.Invoker by routing req to its service's XClient.
func (p *xPool) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if req == nil || req.ServicePath == "" {
		return nil, errors.New("brisk: a request without a service")
	}
	if p.only != "" && req.ServicePath != p.only {
		if req.IsOneway() && !req.IsHeartbeat() {
			return nil, nil
		}
		return unknownService(req), nil
	}
	x, err := p.get(ctx, req.ServicePath)
	if err != nil {
		if errors.Is(err, errNoServers) {
			return nil, errors.Join(err, gateway.ErrUnavailable)
		}
		return nil, err
	}
	return x.Invoke(ctx, req)
}

func closeDiscovery(d discovery.Discovery) {
	if c, ok := d.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}

// errNoServers is wrapped by the error of a discovery that listed no server in time.
var errNoServers = errors.New("no servers")

// waitListed waits until d has listed (its Err is nil, for discoveries that report it) at
// least one server, for at most timeout (0: until ctx ends).
func waitListed(ctx context.Context, d discovery.Discovery, service string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	hr, _ := d.(discovery.HealthReporter)
	ch, stop := d.Watch()
	defer stop()
	var lastErr error
	for {
		select {
		case list, ok := <-ch:
			if !ok {
				return withCode(exitTransport, fmt.Errorf("discovery of %s closed", service))
			}
			if hr != nil {
				if lastErr = hr.Err(); lastErr != nil {
					continue
				}
			}
			if len(list) > 0 {
				return nil
			}
		case <-ctx.Done():
			if hr != nil {
				// The watch fires when the error appears or goes, not when it changes:
				// the placeholder set before the first list may have been replaced since.
				if err := hr.Err(); err != nil {
					lastErr = err
				}
			}
			if errors.Is(lastErr, registry.ErrNotListed) {
				return withCode(exitTransport, fmt.Errorf("registry: %s: the registry did not answer in time (is it reachable?)", service))
			}
			if lastErr != nil {
				return withCode(exitTransport, fmt.Errorf("registry: %s: %w", service, lastErr))
			}
			return withCode(exitTransport, fmt.Errorf("%w of service %s in the registry", errNoServers, service))
		}
	}
}

// registryURL is a parsed registry URL.
type registryURL struct {
	Scheme   string   // etcd, zookeeper, redis, consul, mdns
	Hosts    []string // host:port, at least one (none for mdns)
	BasePath string   // with a leading slash, never a trailing one
	Service  string   // "" when the URL names only a base path
	User     *url.Userinfo
	Query    url.Values
}

// registrySchemes maps each scheme to its default port.
var registrySchemes = map[string]string{
	"etcd":      "2379",
	"zookeeper": "2181",
	"zk":        "2181",
	"redis":     "6379",
	"consul":    "8500",
	"mdns":      "",
}

// parseRegistryURL parses scheme://host[:port][,host[:port]...]/base/Service.
func parseRegistryURL(s string) (*registryURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, usageErrorf("registry URL %q: %w", s, err)
	}
	defPort, ok := registrySchemes[u.Scheme]
	if !ok {
		return nil, usageErrorf("registry URL %q: unknown scheme %q (want etcd, zookeeper, redis, consul or mdns)", s, u.Scheme)
	}
	r := &registryURL{Scheme: u.Scheme, User: u.User, Query: u.Query()}
	if r.Scheme == "zk" {
		r.Scheme = "zookeeper"
	}
	if u.Host != "" {
		for _, h := range strings.Split(u.Host, ",") {
			if h == "" {
				return nil, usageErrorf("registry URL %q: empty host", s)
			}
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
			}
			r.Hosts = append(r.Hosts, h)
		}
	}
	if len(r.Hosts) == 0 && r.Scheme != "mdns" {
		return nil, usageErrorf("registry URL %q: no host", s)
	}
	path := u.Path
	baseOnly := strings.HasSuffix(path, "/")
	elems := strings.FieldsFunc(path, func(c rune) bool { return c == '/' })
	switch {
	case r.Scheme == "mdns":
		if len(elems) > 0 && !baseOnly {
			r.Service = elems[len(elems)-1]
		}
	case baseOnly || len(elems) < 2:
		r.BasePath = "/" + strings.Join(elems, "/")
	default:
		r.BasePath = "/" + strings.Join(elems[:len(elems)-1], "/")
		r.Service = elems[len(elems)-1]
	}
	if r.BasePath == "/" || (r.BasePath == "" && r.Scheme != "mdns") {
		r.BasePath = "/rpcx_test"
	}
	return r, nil
}
