package briskotel

import (
	"context"
	"net"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/brisk-rpc/brisk/server"
)

// ServerMiddleware returns a server middleware that continues the caller's trace (read from
// the request metadata by the propagator) with a server span per request, handed to the
// handler in its context, and records the server's call metrics. Put it first in
// server.WithMiddleware so that it sees what the other middleware refuse; requests refused
// by server.WithAuthFunc, which runs before any middleware, are not seen.
func ServerMiddleware(opts ...Option) server.Middleware {
	cfg := newConfig(opts)
	tracer := cfg.tracer()
	meter := cfg.meter()
	prop := cfg.prop
	duration := durationHistogram(meter, "rpc.server.call.duration",
		"Duration of incoming RPCs, from the request reaching the middleware to the handler's return.")
	calls := counter(meter, "brisk.server.calls", "{call}", "Incoming RPCs handled, by method and outcome.")
	active := upDown(meter, "brisk.server.active_calls", "{call}", "Incoming RPCs being handled.")
	reqSize := sizeHistogram(meter, "rpc.server.request.size", "Size of the encoded arguments of incoming RPCs.")
	respSize := sizeHistogram(meter, "rpc.server.response.size", "Size of the encoded replies of incoming RPCs.")
	activeOpts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(systemAttr))}
	ms := newMethods(trace.SpanKindServer)
	other := newMethod(otherMethod, trace.SpanKindServer)

	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			start := time.Now()
			m := ms.get(inv.ServicePath, inv.ServiceMethod)
			known := m != nil
			if !known {
				m = ms.build(inv.ServicePath, inv.ServiceMethod)
			}
			if len(inv.Metadata) > 0 {
				ctx = prop.Extract(ctx, propagation.MapCarrier(inv.Metadata))
			}
			ctx, span := tracer.Start(ctx, m.name, m.spanStart...)
			recording := span.IsRecording()
			if recording {
				setPeer(span, inv.RemoteAddr)
				if inv.Oneway {
					span.SetAttributes(onewayAttr)
				}
			}
			active.Add(ctx, 1, activeOpts...)

			err := next(ctx, inv)

			active.Add(ctx, -1, activeOpts...)
			o := serverOutcome(err)
			if !known {
				if unknownMethod(err) {
					if recording {
						span.SetName(SystemName)
						span.SetAttributes(semconv.RPCMethod(otherMethod), semconv.RPCMethodOriginal(m.name))
					}
					m = other
				} else {
					ms.store(inv.ServicePath, inv.ServiceMethod, m)
				}
			}
			duration.Record(ctx, time.Since(start).Seconds(), m.record[o]...)
			calls.Add(ctx, 1, m.add[o]...)
			reqSize.Record(ctx, int64(inv.PayloadSize), m.record[o]...)
			if err == nil && !inv.Oneway {
				respSize.Record(ctx, int64(inv.ReplySize), m.record[o]...)
			}
			if recording {
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

var onewayAttr = attribute.Bool("brisk.oneway", true)

// setPeer records the caller's address on the span.
func setPeer(span trace.Span, addr net.Addr) {
	switch a := addr.(type) {
	case nil:
	case *net.TCPAddr:
		span.SetAttributes(semconv.NetworkPeerAddress(a.IP.String()), semconv.NetworkPeerPort(a.Port))
	case *net.UDPAddr:
		span.SetAttributes(semconv.NetworkPeerAddress(a.IP.String()), semconv.NetworkPeerPort(a.Port))
	default:
		span.SetAttributes(semconv.NetworkPeerAddress(a.String()))
	}
}

// ConnHooks returns server connection hooks that count the connections a server accepts
// (brisk.server.connections.opened) and has open (brisk.server.connections.active). They
// never refuse a connection. Only the meter provider option applies.
func ConnHooks(opts ...Option) server.ConnHooks {
	cfg := newConfig(opts)
	meter := cfg.meter()
	opened := counter(meter, "brisk.server.connections.opened", "{connection}", "Connections the server accepted.")
	active := upDown(meter, "brisk.server.connections.active", "{connection}", "Connections open on the server.")
	set := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(systemAttr))}
	return server.ConnHooks{
		Accepted: func(net.Conn) error {
			opened.Add(context.Background(), 1, set...)
			active.Add(context.Background(), 1, set...)
			return nil
		},
		Closed: func(net.Conn) {
			active.Add(context.Background(), -1, set...)
		},
	}
}
