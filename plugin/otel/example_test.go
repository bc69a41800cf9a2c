package briskotel_test

import (
	"context"
	"fmt"
	"net"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/brisk-rpc/brisk/client"
	briskotel "github.com/brisk-rpc/brisk/plugin/otel"
	"github.com/brisk-rpc/brisk/server"
)

type Args struct{ A, B int }
type Reply struct{ C int }

type Arith struct{}

func (Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// Tracing and metrics on a server and a client. Real programs export spans with a batch
// processor and an OTLP exporter, and usually set the providers and the propagator
// globally (otel.SetTracerProvider and so on) instead of passing them.
func Example() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) }()
	opts := []briskotel.Option{
		briskotel.WithTracerProvider(tp),
		briskotel.WithMeterProvider(mp),
		briskotel.WithPropagator(propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{})),
	}

	s := server.NewServer(
		server.WithMiddleware(briskotel.ServerMiddleware(opts...)),
		server.WithConnHooks(briskotel.ConnHooks(opts...)))
	if err := s.RegisterName("Arith", Arith{}, ""); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ln) }()
	defer func() { _ = s.Close(); <-served }()

	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{briskotel.ClientMiddleware(opts...)}
	c := client.NewClient(opt)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		panic(err)
	}
	defer c.Close()

	var reply Reply
	if err := c.Call(context.Background(), "Arith.Mul", &Args{A: 7, B: 8}, &reply); err != nil {
		panic(err)
	}
	fmt.Println("reply:", reply.C)
	for _, span := range spans.GetSpans() {
		fmt.Println(span.SpanKind, span.Name)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "brisk.server.calls" {
			fmt.Println(m.Name, sum.DataPoints[0].Value)
		}
	}
	// Output:
	// reply: 56
	// server Arith/Mul
	// client Arith/Mul
	// brisk.server.calls 1
}
