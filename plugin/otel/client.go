package briskotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/brisk-rpc/brisk/client"
)

// ClientMiddleware returns a client middleware that makes a client span per call (per
// attempt, for an XClient that retries), child of the span in the call's context, sends the
// trace context and baggage in the request metadata, and records the client's call metrics.
// Metadata the caller set with client.WithMetadata is kept: the trace entries are added to it.
func ClientMiddleware(opts ...Option) client.Middleware {
	cfg := newConfig(opts)
	tracer := cfg.tracer()
	meter := cfg.meter()
	prop := cfg.prop
	duration := durationHistogram(meter, "rpc.client.call.duration", "Duration of outgoing RPCs.")
	calls := counter(meter, "brisk.client.calls", "{call}", "Outgoing RPCs made, by method and outcome.")
	active := upDown(meter, "brisk.client.active_calls", "{call}", "Outgoing RPCs waiting for their answer.")
	ms := newMethods(trace.SpanKindClient)

	return func(next client.Invoker) client.Invoker {
		return func(ctx context.Context, inv *client.Invocation) error {
			start := time.Now()
			m := ms.get(inv.ServicePath, inv.ServiceMethod)
			if m == nil {
				m = ms.build(inv.ServicePath, inv.ServiceMethod)
				ms.store(inv.ServicePath, inv.ServiceMethod, m)
			}
			ctx, span := tracer.Start(ctx, m.name, m.spanStart...)
			md := make(propagation.MapCarrier, 3)
			prop.Inject(ctx, md)
			callCtx := client.WithMetadata(ctx, md) // added to the caller's metadata
			active.Add(ctx, 1, m.active...)

			err := next(callCtx, inv)

			active.Add(ctx, -1, m.active...)
			o := clientOutcome(err)
			duration.Record(ctx, time.Since(start).Seconds(), m.record[o]...)
			calls.Add(ctx, 1, m.add[o]...)
			if span.IsRecording() {
				span.SetAttributes(m.failAttrs[o]...)
				if err != nil {
					span.SetStatus(codes.Error, err.Error())
				}
			}
			span.End()
			return err
		}
	}
}
