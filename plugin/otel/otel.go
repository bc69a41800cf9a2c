// Package briskotel traces and measures brisk calls with OpenTelemetry.
//
// ServerMiddleware and ClientMiddleware make a span for every call, server and client side,
// and record call metrics; ConnHooks counts a server's connections. The W3C trace context
// (traceparent, tracestate) and baggage travel in the request metadata, so one trace follows
// a call from a game server through every service it calls in turn:
//
//	otel.SetTracerProvider(tp)
//	otel.SetMeterProvider(mp)
//	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
//		propagation.TraceContext{}, propagation.Baggage{}))
//
//	s := server.NewServer(
//		server.WithMiddleware(briskotel.ServerMiddleware()),
//		server.WithConnHooks(briskotel.ConnHooks()))
//
//	opt := client.DefaultOption
//	opt.Middleware = []client.Middleware{briskotel.ClientMiddleware()}
//
// # Providers
//
// Like OpenTelemetry's own instrumentation libraries, the middleware uses the global tracer
// provider, meter provider and propagator (otel.GetTracerProvider, otel.GetMeterProvider,
// otel.GetTextMapPropagator) unless WithTracerProvider, WithMeterProvider or WithPropagator
// says otherwise. The globals are no-ops until set: without a propagator set globally or
// given, no trace context is sent or read, and each service starts its own traces.
//
// Malformed trace context or baggage in a request never fails it: the server starts a new
// trace. The propagator reports malformed baggage to OpenTelemetry's global error handler,
// which logs by default; set otel.SetErrorHandler to decide what happens to such reports.
//
// # Spans
//
// Spans follow OpenTelemetry's RPC semantic conventions (semconv v1.43.0): the span is named
// "Service/Method" (rpc.method), of kind server or client, with rpc.system.name "brisk",
// network.peer.address and network.peer.port of the caller on the server, error.type and an
// error status when the call fails. brisk.outcome classifies every call (see Outcome): a
// call a server refused (overloaded, over a rate limit, shutting down) has error.type
// "refused", apart from the errors of the method itself ("service_error"). A request for a
// service or method the server does not have is recorded as rpc.method "_OTHER" with
// rpc.method_original, so that callers cannot create unbounded metric series.
//
// # Metrics
//
// Server:
//
//	rpc.server.call.duration          histogram, s   rpc.system.name, rpc.method, brisk.outcome, error.type
//	brisk.server.calls                counter        same attributes
//	brisk.server.active_calls         up-down        rpc.system.name (no method: unknown before the call ends)
//	rpc.server.request.size           histogram, By  rpc.system.name, rpc.method, brisk.outcome, error.type
//	rpc.server.response.size          histogram, By  same, for calls that were answered with a reply
//	brisk.server.connections.opened   counter        rpc.system.name (ConnHooks)
//	brisk.server.connections.active   up-down        rpc.system.name (ConnHooks)
//
// Client:
//
//	rpc.client.call.duration          histogram, s   rpc.system.name, rpc.method, brisk.outcome, error.type
//	brisk.client.calls                counter        same attributes
//	brisk.client.active_calls         up-down        rpc.system.name, rpc.method
//
// The duration histograms use DurationBuckets (100 µs to 10 s), finer at the low end than the
// semantic conventions' default since brisk calls commonly take well under a millisecond;
// the size histograms use SizeBuckets. A metric View changes either.
package briskotel

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/server"
)

// ScopeName is the instrumentation scope of the tracers and meters the middleware uses.
const ScopeName = "github.com/brisk-rpc/brisk/plugin/otel"

// SystemName is the rpc.system.name of every span and measurement.
const SystemName = "brisk"

// OutcomeKey is the attribute that classifies how a call ended (see Outcome).
const OutcomeKey = attribute.Key("brisk.outcome")

// Outcome is how a call ended, the value of the brisk.outcome attribute (and of error.type
// when the call failed).
type Outcome string

// The outcomes.
const (
	// OutcomeOK: the call succeeded.
	OutcomeOK Outcome = "ok"
	// OutcomeServiceError: the method (or the server, for an unknown method) returned an
	// error.
	OutcomeServiceError Outcome = "service_error"
	// OutcomeRefused: the server refused the call before its method ran (overloaded, over
	// a rate limit, shutting down); client.IsRefused is true and it may be retried elsewhere.
	OutcomeRefused Outcome = "refused"
	// OutcomeTimeout: the call's deadline passed.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeCanceled: the call's context was cancelled.
	OutcomeCanceled Outcome = "canceled"
	// OutcomeTransport: the connection failed, was closed or was never made (client only).
	OutcomeTransport Outcome = "transport"
	// OutcomeOther: any other failure, a codec error for instance (client only).
	OutcomeOther Outcome = "other"
)

// outcomes lists every Outcome, indexed by outcomeIndex.
var outcomes = [...]Outcome{OutcomeOK, OutcomeServiceError, OutcomeRefused, OutcomeTimeout,
	OutcomeCanceled, OutcomeTransport, OutcomeOther}

const (
	iOK = iota
	iServiceError
	iRefused
	iTimeout
	iCanceled
	iTransport
	iOther
)

// DurationBuckets are the bucket boundaries, in seconds, of the call duration histograms.
func DurationBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
		0.5, 1, 2.5, 5, 10}
}

// SizeBuckets are the bucket boundaries, in bytes, of the request and response size
// histograms.
func SizeBuckets() []float64 {
	return []float64{0, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20,
		16 << 20, 64 << 20}
}

// Option configures the middleware and ConnHooks.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the tracer provider (default: otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets the meter provider (default: otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagator sets how the trace context and baggage are written to and read from the
// request metadata (default: otel.GetTextMapPropagator(); W3C trace context and baggage is
// propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = otel.GetTextMapPropagator()
	}
	return c
}

func (c *config) tracer() trace.Tracer { return c.tp.Tracer(ScopeName) }

func (c *config) meter() metric.Meter { return c.mp.Meter(ScopeName) }

var systemAttr = semconv.RPCSystemNameKey.String(SystemName)

// otherMethod is the rpc.method of a call to a method the server does not have.
const otherMethod = "_OTHER"

// method holds what every call of one method records, built once: its span name and
// start options, and its measurement options per outcome.
type method struct {
	name      string // "Service/Method", or _OTHER
	spanStart []trace.SpanStartOption
	active    []metric.AddOption // client in-flight: system and method
	add       [len(outcomes)][]metric.AddOption
	record    [len(outcomes)][]metric.RecordOption
	failAttrs [len(outcomes)][]attribute.KeyValue // outcome and error.type, for the span
}

func newMethod(name string, kind trace.SpanKind) *method {
	m := &method{name: name}
	nameAttr := semconv.RPCMethod(name)
	m.spanStart = []trace.SpanStartOption{
		trace.WithSpanKind(kind),
		trace.WithAttributes(systemAttr, nameAttr),
	}
	m.active = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(systemAttr, nameAttr))}
	for i, o := range outcomes {
		attrs := []attribute.KeyValue{systemAttr, nameAttr, OutcomeKey.String(string(o))}
		span := []attribute.KeyValue{OutcomeKey.String(string(o))}
		if o != OutcomeOK {
			et := semconv.ErrorTypeKey.String(string(o))
			attrs = append(attrs, et)
			span = append(span, et)
		}
		set := metric.WithAttributeSet(attribute.NewSet(attrs...))
		m.add[i] = []metric.AddOption{set}
		m.record[i] = []metric.RecordOption{set}
		m.failAttrs[i] = span
	}
	return m
}

// methodKey names a method without building the "Service/Method" string.
type methodKey struct{ path, method string }

// maxMethods bounds the cache of methods: past it, methods are built per call.
const maxMethods = 4096

// methods caches the per-method options of one middleware.
type methods struct {
	kind trace.SpanKind
	mu   sync.RWMutex
	m    map[methodKey]*method
}

func newMethods(kind trace.SpanKind) *methods {
	return &methods{kind: kind, m: make(map[methodKey]*method)}
}

// get returns the cached method, or nil.
func (ms *methods) get(path, name string) *method {
	ms.mu.RLock()
	m := ms.m[methodKey{path, name}]
	ms.mu.RUnlock()
	return m
}

// build returns a new method for path and name; store keeps it if the cache has room.
func (ms *methods) build(path, name string) *method {
	return newMethod(path+"/"+name, ms.kind)
}

func (ms *methods) store(path, name string, m *method) {
	ms.mu.Lock()
	if len(ms.m) < maxMethods {
		ms.m[methodKey{path, name}] = m
	}
	ms.mu.Unlock()
}

// serverOutcome classifies the error a server's handler chain returned.
func serverOutcome(err error) int {
	switch {
	case err == nil:
		return iOK
	case errors.Is(err, server.ErrOverloaded), errors.Is(err, server.ErrRateLimited):
		return iRefused
	case errors.Is(err, context.DeadlineExceeded):
		return iTimeout
	case errors.Is(err, context.Canceled):
		return iCanceled
	}
	if server.IsRefused(err) {
		return iRefused
	}
	return iServiceError
}

// unknownMethod reports whether err is the server's answer to a request for a service or
// method it does not have.
func unknownMethod(err error) bool {
	return errors.Is(err, server.ErrNotFound) || client.IsNotFound(err)
}

// clientOutcome classifies a client call's error.
func clientOutcome(err error) int {
	switch {
	case err == nil:
		return iOK
	case client.IsRefused(err):
		return iRefused
	case client.IsServiceError(err):
		return iServiceError
	case errors.Is(err, context.DeadlineExceeded):
		return iTimeout
	case errors.Is(err, context.Canceled):
		return iCanceled
	case client.IsTransportError(err), errors.Is(err, client.ErrShutdown), errors.Is(err, client.ErrNotConnected):
		return iTransport
	}
	return iOther
}

// Instruments are made with valid, constant names; should a provider fail one anyway, the
// call is measured without it rather than not served.

func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil && c == nil {
		return noop.Int64Counter{}
	}
	return c
}

func upDown(m metric.Meter, name, unit, desc string) metric.Int64UpDownCounter {
	c, err := m.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil && c == nil {
		return noop.Int64UpDownCounter{}
	}
	return c
}

func durationHistogram(m metric.Meter, name, desc string) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(DurationBuckets()...))
	if err != nil && h == nil {
		return noop.Float64Histogram{}
	}
	return h
}

func sizeHistogram(m metric.Meter, name, desc string) metric.Int64Histogram {
	h, err := m.Int64Histogram(name, metric.WithUnit("By"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(SizeBuckets()...))
	if err != nil && h == nil {
		return noop.Int64Histogram{}
	}
	return h
}
