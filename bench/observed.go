package bench

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/brisk-rpc/brisk/client"
	briskotel "github.com/brisk-rpc/brisk/plugin/otel"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// observed is brisk with what production runs: OpenTelemetry tracing (every call sampled,
// spans batched to an exporter that drops them), OpenTelemetry metrics (SDK, a manual
// reader) and Prometheus metrics, on both client and server. Comparing it with plain brisk
// gives the cost of observability on the call path.
type observed struct {
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	prom    *briskprom.Metrics
	otelOpt []briskotel.Option
}

// discardExporter drops spans: the cost measured is recording them, not shipping them.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

func newObserved(sampler sdktrace.Sampler) (*observed, error) {
	prom, err := briskprom.New()
	if err != nil {
		return nil, err
	}
	o := &observed{
		tp:   sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discardExporter{})),
		mp:   sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		prom: prom,
	}
	o.otelOpt = []briskotel.Option{
		briskotel.WithTracerProvider(o.tp),
		briskotel.WithMeterProvider(o.mp),
		briskotel.WithPropagator(propagation.TraceContext{}),
	}
	return o, nil
}

func (o *observed) shutdown() {
	_ = o.tp.Shutdown(context.Background())
	_ = o.mp.Shutdown(context.Background())
}

type observedServer struct {
	*briskServer
	o *observed
}

func (s observedServer) Close() error {
	err := s.briskServer.Close()
	s.o.shutdown()
	return err
}

// startObserved and dialObserved return a Start and a Dial whose spans are sampled by
// sampler (the server follows the client's decision when it gets a sampled parent).
func startObserved(sampler sdktrace.Sampler) func() (Server, error) {
	return func() (Server, error) { return startObservedBrisk(sampler) }
}

func dialObserved(sampler sdktrace.Sampler) func(string) (Conn, error) {
	return func(addr string) (Conn, error) { return dialObservedBrisk(addr, sampler) }
}

func startObservedBrisk(sampler sdktrace.Sampler) (Server, error) {
	o, err := newObserved(sdktrace.ParentBased(sampler))
	if err != nil {
		return nil, err
	}
	s, err := startBriskWith(
		server.WithMiddleware(briskotel.ServerMiddleware(o.otelOpt...), o.prom.ServerMiddleware()),
		server.WithConnHooks(briskotel.ConnHooks(o.otelOpt...)),
		server.WithConnHooks(o.prom.ConnHooks()),
	)
	if err != nil {
		o.shutdown()
		return nil, err
	}
	return observedServer{briskServer: s, o: o}, nil
}

// observedConn is a connection whose client records spans and metrics too. Each
// connection has its own providers, shut down with it.
type observedConn struct {
	briskConn
	o *observed
}

func (c observedConn) Close() error {
	err := c.briskConn.Close()
	c.o.shutdown()
	return err
}

func dialObservedBrisk(addr string, sampler sdktrace.Sampler) (Conn, error) {
	o, err := newObserved(sampler)
	if err != nil {
		return nil, err
	}
	opt := client.DefaultOption
	opt.SerializeType = protocol.ProtoBuffer
	opt.Middleware = []client.Middleware{briskotel.ClientMiddleware(o.otelOpt...), o.prom.ClientMiddleware()}
	c := client.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		o.shutdown()
		return nil, err
	}
	return observedConn{briskConn: briskConn{c}, o: o}, nil
}
