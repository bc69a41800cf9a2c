// Package prometheus exports brisk server and client metrics to Prometheus. Import it
// under another name (briskprom below) next to client_golang's own prometheus package.
//
// New makes a Metrics value whose collectors live in a registry of its own (or in the
// Registerer given with WithRegisterer: there is no global state). Wire it into a server
// with its middleware and connection hooks, and serve its Handler:
//
//	m, err := briskprom.New()
//	if err != nil { ... }
//	s := server.NewServer(
//		server.WithMiddleware(m.ServerMiddleware()), // first: outermost, so it sees refusals
//		server.WithConnHooks(m.ConnHooks()),
//	)
//	go http.ListenAndServe("127.0.0.1:9100", m.Handler()) // an admin port
//
// To serve /metrics on the server's own port next to the HTTP gateway, give the server a
// mux and add the gateway once the server exists (see the package examples):
//
//	mux := http.NewServeMux()
//	mux.Handle("/metrics", m.Handler())
//	s := server.NewServer(server.WithHTTPHandler(mux), ...)
//	mux.Handle("/", gateway.New(s)) // before Serve
//
// Clients add m.ClientMiddleware() to client.Option.Middleware.
//
// # Metrics
//
// Server side, labelled service and method:
//
//	brisk_server_requests_total{service,method,outcome}   counter
//	brisk_server_request_duration_seconds{service,method} histogram
//	brisk_server_in_flight_requests{service,method}       gauge
//	brisk_server_request_bytes{service,method}            histogram of Invocation.PayloadSize
//	brisk_server_response_bytes{service,method}           histogram of Invocation.ReplySize (successful two-way calls)
//	brisk_server_connections_active                       gauge
//	brisk_server_connections_total                        counter
//
// Client side:
//
//	brisk_client_requests_total{service,method,outcome}   counter
//	brisk_client_request_duration_seconds{service,method} histogram
//
// Outcomes: "ok"; "error" (the method, or a middleware, returned an error); "refused" (a
// server refused the call as overloaded, rate limited or shutting down: server.ErrOverloaded,
// server.ErrRateLimited); "not_found" (no such service or method); "timeout" and
// "canceled" (the context ended); and on the client only "unavailable" (the call failed
// without an answer from a service: connection errors, a closed client, no server).
//
// The server middleware counts what reaches it: requests refused by WithAuthFunc or by
// WithMaxConcurrentRequestsPerConn never reach middleware and are not counted. Calls made
// through the HTTP gateway run the same middleware and are counted; HTTP connections to the
// server's port (a scrape of /metrics served there, say) count as connections.
//
// # Bounded labels
//
// Service and method names come from the request, so a hostile client could send a new
// name with every call. They only become label values when they are known to be real:
//
//   - With an allowlist (WithService, WithMethods), a listed pair keeps its names; any other
//     method of a listed service is counted as (service, "unknown"), anything else as
//     ("unknown", "unknown").
//   - Without one, the middleware learns a pair once a call to it ends with an outcome that
//     shows the method exists: "ok", "error", "timeout" or "canceled". A "not_found" call is
//     counted as ("unknown", "unknown"), or as (service, "unknown") when only the method was
//     missing (the service is registered); a "refused" call of a pair not learned yet as
//     ("unknown", "unknown"), since the refusal came before the name was checked. Until a
//     pair's first call ends, its in-flight requests are counted under ("unknown",
//     "unknown"). Learning trusts that an error other than a refusal came from the method: a
//     middleware inside this one that rejects requests before their name is checked should
//     return a refusal error, or be placed outside, or an allowlist be given.
//
// In both cases at most WithMaxMethods label pairs (default 1024) are made per side; calls
// beyond it are counted as ("unknown", "unknown"). Client-side names come from the
// caller's own code and are learned on first use, under the same limit.
package prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unknown is the label value that stands for a service or method name that is not known
// to be real (see Bounded labels in the package doc).
const Unknown = "unknown"

// Outcome label values.
const (
	OutcomeOK          = "ok"
	OutcomeError       = "error"
	OutcomeRefused     = "refused"
	OutcomeNotFound    = "not_found"
	OutcomeTimeout     = "timeout"
	OutcomeCanceled    = "canceled"
	OutcomeUnavailable = "unavailable" // client side only
)

// DefaultBuckets are the request duration buckets, in seconds: 100 µs to 10 s, for RPCs
// that mostly answer in a millisecond or less over a local network.
var DefaultBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// sizeBuckets are the request and response size buckets, in bytes: 64 B to 16 MiB.
var sizeBuckets = prom.ExponentialBuckets(64, 4, 10)

// Option configures New.
type Option func(*config)

type config struct {
	registerer prom.Registerer
	buckets    []float64
	maxPairs   int
	allow      map[string]map[string]bool
}

// WithRegisterer registers the collectors on r instead of a registry owned by the Metrics
// value (pass prometheus.DefaultRegisterer to use the global one). Handler then serves r if
// it is also a prometheus.Gatherer (a *prometheus.Registry is), else only these metrics.
// If r already holds collectors of the same names, labels and help (another Metrics
// registered them), they are shared as they are (with their buckets).
func WithRegisterer(r prom.Registerer) Option {
	return func(c *config) { c.registerer = r }
}

// WithBuckets sets the request duration histogram buckets, in seconds (default
// DefaultBuckets), for both sides.
func WithBuckets(b []float64) Option {
	return func(c *config) { c.buckets = append([]float64(nil), b...) }
}

// WithMaxMethods bounds the number of (service, method) label pairs made on each side
// (default 1024; 0 counts every call as ("unknown", "unknown")); calls beyond it are
// counted as ("unknown", "unknown").
func WithMaxMethods(n int) Option {
	return func(c *config) { c.maxPairs = n }
}

// WithMethods adds service's methods to the server allowlist: once any allowlist option is
// given, only listed pairs appear as labels on the server side (see Bounded labels).
func WithMethods(service string, methods ...string) Option {
	return func(c *config) {
		if c.allow == nil {
			c.allow = make(map[string]map[string]bool)
		}
		if c.allow[service] == nil {
			c.allow[service] = make(map[string]bool)
		}
		for _, m := range methods {
			c.allow[service][m] = true
		}
	}
}

// WithService adds every exported method of rcvr's type to the server allowlist under the
// name service, as server.RegisterName(service, rcvr, ...) registers them. It lists more
// methods than the server registers when rcvr has exported methods of other shapes, which
// only makes room for label pairs that never appear.
func WithService(service string, rcvr any) Option {
	var names []string
	if rcvr != nil {
		t := reflect.TypeOf(rcvr)
		for i := range t.NumMethod() {
			names = append(names, t.Method(i).Name)
		}
	}
	return WithMethods(service, names...)
}

// Metrics holds the collectors. Its methods give the pieces to wire into a server and
// clients; one Metrics may serve several servers and clients, whose counts then add up.
type Metrics struct {
	gatherer prom.Gatherer
	allow    map[string]map[string]bool

	srvRequests  *prom.CounterVec
	srvDuration  *prom.HistogramVec
	srvInFlight  *prom.GaugeVec
	srvReqBytes  *prom.HistogramVec
	srvRespBytes *prom.HistogramVec
	connActive   prom.Gauge
	connTotal    prom.Counter
	cliRequests  *prom.CounterVec
	cliDuration  *prom.HistogramVec

	srv *table[*serverSeries]
	cli *table[*clientSeries]
}

// New makes the collectors and registers them. It fails only when the Registerer refuses
// them (one of the names is registered with another shape), never with the default
// registry.
func New(opts ...Option) (*Metrics, error) {
	cfg := config{buckets: DefaultBuckets, maxPairs: 1024}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxPairs < 0 {
		cfg.maxPairs = 0
	}
	m := &Metrics{allow: cfg.allow}
	sm := []string{"service", "method"}
	smo := []string{"service", "method", "outcome"}
	m.srvRequests = prom.NewCounterVec(prom.CounterOpts{
		Name: "brisk_server_requests_total",
		Help: "Requests handled by the server, by service, method and outcome.",
	}, smo)
	m.srvDuration = prom.NewHistogramVec(prom.HistogramOpts{
		Name:    "brisk_server_request_duration_seconds",
		Help:    "Time the server took to handle a request (middleware inside this one and the method).",
		Buckets: cfg.buckets,
	}, sm)
	m.srvInFlight = prom.NewGaugeVec(prom.GaugeOpts{
		Name: "brisk_server_in_flight_requests",
		Help: "Requests being handled by the server.",
	}, sm)
	m.srvReqBytes = prom.NewHistogramVec(prom.HistogramOpts{
		Name:    "brisk_server_request_bytes",
		Help:    "Size of the encoded request arguments, in bytes.",
		Buckets: sizeBuckets,
	}, sm)
	m.srvRespBytes = prom.NewHistogramVec(prom.HistogramOpts{
		Name:    "brisk_server_response_bytes",
		Help:    "Size of the encoded (possibly compressed) reply of successful two-way requests, in bytes.",
		Buckets: sizeBuckets,
	}, sm)
	m.connActive = prom.NewGauge(prom.GaugeOpts{
		Name: "brisk_server_connections_active",
		Help: "Connections the server holds open (native and HTTP).",
	})
	m.connTotal = prom.NewCounter(prom.CounterOpts{
		Name: "brisk_server_connections_total",
		Help: "Connections the server accepted.",
	})
	m.cliRequests = prom.NewCounterVec(prom.CounterOpts{
		Name: "brisk_client_requests_total",
		Help: "Calls made by clients, by service, method and outcome.",
	}, smo)
	m.cliDuration = prom.NewHistogramVec(prom.HistogramOpts{
		Name:    "brisk_client_request_duration_seconds",
		Help:    "Time a client call took, from the middleware to its answer.",
		Buckets: cfg.buckets,
	}, sm)

	own := cfg.registerer == nil
	reg := cfg.registerer
	if own {
		r := prom.NewRegistry()
		reg, m.gatherer = r, r
	} else if g, ok := reg.(prom.Gatherer); ok {
		m.gatherer = g
	}
	var err error
	m.srvRequests = register(reg, m.srvRequests, &err)
	m.srvDuration = register(reg, m.srvDuration, &err)
	m.srvInFlight = register(reg, m.srvInFlight, &err)
	m.srvReqBytes = register(reg, m.srvReqBytes, &err)
	m.srvRespBytes = register(reg, m.srvRespBytes, &err)
	m.connActive = register(reg, m.connActive, &err)
	m.connTotal = register(reg, m.connTotal, &err)
	m.cliRequests = register(reg, m.cliRequests, &err)
	m.cliDuration = register(reg, m.cliDuration, &err)
	if err != nil {
		return nil, err
	}
	if m.gatherer == nil {
		// The user's Registerer cannot be gathered: serve these metrics alone.
		r := prom.NewRegistry()
		for _, c := range m.collectors() {
			if err := r.Register(c); err != nil {
				return nil, err
			}
		}
		m.gatherer = r
	}
	m.srv = newTable(cfg.maxPairs, m.newServerSeries)
	m.cli = newTable(cfg.maxPairs, m.newClientSeries)
	return m, nil
}

// register registers c on reg and returns it, or the collector of the same type already
// registered there under the same description. Once *err is set it does nothing.
func register[T prom.Collector](reg prom.Registerer, c T, err *error) T {
	if *err != nil {
		return c
	}
	rerr := reg.Register(c)
	if rerr == nil {
		return c
	}
	var are prom.AlreadyRegisteredError
	if errors.As(rerr, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	*err = fmt.Errorf("brisk/prometheus: %w", rerr)
	return c
}

func (m *Metrics) collectors() []prom.Collector {
	return []prom.Collector{m.srvRequests, m.srvDuration, m.srvInFlight, m.srvReqBytes, m.srvRespBytes,
		m.connActive, m.connTotal, m.cliRequests, m.cliDuration}
}

// Gatherer returns what Handler serves: the Metrics' own registry, or the Registerer given
// with WithRegisterer when it is also a Gatherer.
func (m *Metrics) Gatherer() prom.Gatherer { return m.gatherer }

// Handler serves the metrics in the Prometheus exposition formats (promhttp), to mount at
// /metrics on an admin port or on the server's own port (server.WithHTTPHandler).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}
