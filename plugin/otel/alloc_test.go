package briskotel_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskotel "github.com/brisk-rpc/brisk/plugin/otel"
	"github.com/brisk-rpc/brisk/server"
)

// The allocations a call costs (client and server together, one process) without the
// middleware, with it over no-op providers, and with it over the SDK sampling every span
// and aggregating every measurement. The numbers are reported; only gross regressions fail.
func TestAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	measure := func(opts []briskotel.Option) float64 {
		var sopts []server.Option
		copt := client.DefaultOption
		if opts != nil {
			sopts = append(sopts, server.WithMiddleware(briskotel.ServerMiddleware(opts...)))
			copt.Middleware = []client.Middleware{briskotel.ClientMiddleware(opts...)}
		}
		_, _, addr := testsvc.NewArithServer(t, sopts...)
		c := testsvc.Connect(t, addr, copt)
		args, reply := &testsvc.Args{A: 3, B: 4}, &testsvc.Reply{}
		call := func() {
			if err := c.Call(context.Background(), "Arith.Mul", args, reply); err != nil {
				t.Fatal(err)
			}
		}
		call()
		return testing.AllocsPerRun(1000, call)
	}

	base := measure(nil)
	noops := measure([]briskotel.Option{
		briskotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		briskotel.WithMeterProvider(metricnoop.NewMeterProvider()),
		briskotel.WithPropagator(w3c),
	})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())) // spans recorded, not exported
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) }()
	sdk := measure([]briskotel.Option{
		briskotel.WithTracerProvider(tp),
		briskotel.WithMeterProvider(mp),
		briskotel.WithPropagator(w3c),
	})
	t.Logf("allocations per call: %.1f without the middleware, %.1f with no-op providers, %.1f with the SDK",
		base, noops, sdk)
	if noops > base+10 || sdk > base+60 {
		t.Errorf("allocations per call: %.1f without the middleware, %.1f with no-op providers, %.1f with the SDK",
			base, noops, sdk)
	}
}
