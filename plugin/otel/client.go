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
	// probe answers only the lookup of client.WithMetadata's key, which is how metadataContext
	// recognises it.
	probe := client.WithMetadata(context.Background(), map[string]string{})

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
			callCtx := ctx
			if len(md) > 0 {
				callCtx = &metadataContext{Context: ctx, probe: probe, md: md}
			}
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

// metadataContext adds md to the request metadata of its parent context: asked for the key
// of client.WithMetadata (recognised as the one key probe has a value for), it answers the
// parent's metadata merged with md, without modifying either map.
type metadataContext struct {
	context.Context
	probe context.Context
	md    map[string]string
}

// Value implements context.Context.
func (c *metadataContext) Value(key any) any {
	if c.probe.Value(key) == nil {
		return c.Context.Value(key)
	}
	parent, _ := c.Context.Value(key).(map[string]string)
	if len(parent) == 0 {
		return c.md
	}
	merged := make(map[string]string, len(parent)+len(c.md))
	for k, v := range parent {
		merged[k] = v
	}
	for k, v := range c.md {
		merged[k] = v
	}
	return merged
}
