package briskotel_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskotel "github.com/brisk-rpc/brisk/plugin/otel"
	"github.com/brisk-rpc/brisk/server"
)

// HopArgs are the arguments of Hop.Do.
type HopArgs struct{ Trail []string }

// HopReply is the reply of Hop.Do.
type HopReply struct {
	Trail   []string
	Baggage string // the "player" baggage member the last hop saw
}

// hop is a service whose Do calls the next hop's Do, if any, with the context it was given.
type hop struct {
	name string
	next *client.Client
	to   string // the next hop's service name
}

func (h *hop) Do(ctx context.Context, args *HopArgs, reply *HopReply) error {
	trail := append(slices.Clone(args.Trail), h.name)
	if h.next == nil {
		reply.Trail = trail
		reply.Baggage = baggage.FromContext(ctx).Member("player").Value()
		return nil
	}
	return h.next.Call(ctx, h.to+".Do", &HopArgs{Trail: trail}, reply)
}

// A trace follows a call through three services: the game server's span, then a client and
// a server span per hop, each the child of the one before, all in one trace, with baggage
// carried to the end.
func TestTraceThreeHops(t *testing.T) {
	tel := newTelemetry(t)
	addrC := tel.serve(t, "C", &hop{name: "C"})
	toC := testsvc.Connect(t, addrC, tel.clientOption())
	addrB := tel.serve(t, "B", &hop{name: "B", next: toC, to: "C"})
	toB := testsvc.Connect(t, addrB, tel.clientOption())
	addrA := tel.serve(t, "A", &hop{name: "A", next: toB, to: "B"})
	toA := testsvc.Connect(t, addrA, tel.clientOption())

	member, err := baggage.NewMember("player", "42")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	ctx := baggage.ContextWithBaggage(context.Background(), bag)
	ctx, root := tel.tp.Tracer("game").Start(ctx, "GameServer.tick")
	var reply HopReply
	err = toA.Call(ctx, "A.Do", &HopArgs{}, &reply)
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reply.Trail, []string{"A", "B", "C"}) || reply.Baggage != "42" {
		t.Fatalf("reply %+v, want trail A B C and baggage 42", reply)
	}

	spans := tel.spans.GetSpans()
	if len(spans) != 7 {
		t.Fatalf("%d spans, want 7: %v", len(spans), names(spans))
	}
	find := func(name string, kind trace.SpanKind) tracetest.SpanStub {
		t.Helper()
		for _, s := range spans {
			if s.Name == name && s.SpanKind == kind {
				return s
			}
		}
		t.Fatalf("no %s span %q among %v", kind, name, names(spans))
		return tracetest.SpanStub{}
	}
	chain := []tracetest.SpanStub{
		find("GameServer.tick", trace.SpanKindInternal),
		find("A/Do", trace.SpanKindClient), find("A/Do", trace.SpanKindServer),
		find("B/Do", trace.SpanKindClient), find("B/Do", trace.SpanKindServer),
		find("C/Do", trace.SpanKindClient), find("C/Do", trace.SpanKindServer),
	}
	traceID := root.SpanContext().TraceID()
	for i, s := range chain {
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("%s %s: trace %s, want %s", s.SpanKind, s.Name, s.SpanContext.TraceID(), traceID)
		}
		if i == 0 {
			continue
		}
		parent := chain[i-1]
		if s.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("%s %s: parent %s, want the %s %s span %s", s.SpanKind, s.Name, s.Parent.SpanID(),
				parent.SpanKind, parent.Name, parent.SpanContext.SpanID())
		}
		// A server span's parent came over the wire; a client span's is in its process.
		if remote := s.SpanKind == trace.SpanKindServer; s.Parent.IsRemote() != remote {
			t.Errorf("%s %s: remote parent %v", s.SpanKind, s.Name, s.Parent.IsRemote())
		}
		method := s.Name
		want := map[attribute.Key]string{"rpc.system.name": "brisk", "rpc.method": method, "brisk.outcome": "ok"}
		if s.SpanKind == trace.SpanKindServer {
			want["network.peer.address"] = "127.0.0.1"
		}
		got := attrs(s.Attributes)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: %s = %q, want %q (all: %v)", s.SpanKind, s.Name, k, got[k], v, got)
			}
		}
		if _, ok := got["error.type"]; ok {
			t.Errorf("%s %s: error.type on a successful call", s.SpanKind, s.Name)
		}
		if s.SpanKind == trace.SpanKindServer && got["network.peer.port"] == "" {
			t.Errorf("%s %s: no network.peer.port", s.SpanKind, s.Name)
		}
		if s.Status.Code != codes.Unset {
			t.Errorf("%s %s: status %v", s.SpanKind, s.Name, s.Status)
		}
		if s.EndTime.Before(s.StartTime) || (i > 0 && s.StartTime.Before(parent.StartTime)) {
			t.Errorf("%s %s: times %v..%v, parent starts %v", s.SpanKind, s.Name, s.StartTime, s.EndTime, parent.StartTime)
		}
	}
}

// Failed calls set an error status and error.type on both sides; a refused call is marked
// "refused", apart from the method's own errors; an unknown method is recorded as _OTHER.
func TestTraceErrors(t *testing.T) {
	tel := newTelemetry(t)
	refuse := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if inv.ServiceMethod == "Notify" {
				return server.ErrOverloaded
			}
			return next(ctx, inv)
		}
	}
	addr := tel.serve(t, "Arith", testsvc.NewArith(), refuse)
	c := testsvc.Connect(t, addr, tel.clientOption())

	tests := []struct {
		call        string
		outcome     string
		serverName  string // span name on the server
		serverAttrs map[attribute.Key]string
	}{
		{"Arith.Div", "service_error", "Arith/Div", map[attribute.Key]string{"rpc.method": "Arith/Div"}},
		{"Arith.Notify", "refused", "Arith/Notify", map[attribute.Key]string{"rpc.method": "Arith/Notify"}},
		{"Arith.Nope", "service_error", "brisk",
			map[attribute.Key]string{"rpc.method": "_OTHER", "rpc.method_original": "Arith/Nope"}},
		{"Nope.Mul", "service_error", "brisk",
			map[attribute.Key]string{"rpc.method": "_OTHER", "rpc.method_original": "Nope/Mul"}},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			tel.spans.Reset()
			var reply testsvc.Reply
			err := c.Call(context.Background(), tt.call, &testsvc.Args{A: 1}, &reply)
			if err == nil {
				t.Fatal("call succeeded")
			}
			if refused := tt.outcome == "refused"; client.IsRefused(err) != refused {
				t.Fatalf("IsRefused(%v) = %v", err, !refused)
			}
			spans := tel.spans.GetSpans()
			if len(spans) != 2 {
				t.Fatalf("%d spans: %v", len(spans), names(spans))
			}
			for _, s := range spans {
				got := attrs(s.Attributes)
				if s.Status.Code != codes.Error || s.Status.Description != err.Error() {
					t.Errorf("%s span: status %+v, want Error %q", s.SpanKind, s.Status, err)
				}
				if got["error.type"] != tt.outcome || got["brisk.outcome"] != tt.outcome {
					t.Errorf("%s span: attributes %v, want outcome and error.type %s", s.SpanKind, got, tt.outcome)
				}
				var want map[attribute.Key]string
				switch s.SpanKind {
				case trace.SpanKindServer:
					want = tt.serverAttrs
					if s.Name != tt.serverName {
						t.Errorf("server span %q, want %q", s.Name, tt.serverName)
					}
				case trace.SpanKindClient:
					want = map[attribute.Key]string{"rpc.method": slashed(tt.call)}
					if s.Name != slashed(tt.call) {
						t.Errorf("client span %q, want %q", s.Name, slashed(tt.call))
					}
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s span: %s = %q, want %q", s.SpanKind, k, got[k], v)
					}
				}
			}
		})
	}
}

// The server starts a new trace when the request carries no trace context, or a malformed
// one, and continues a valid one.
func TestServerExtract(t *testing.T) {
	tel := newTelemetry(t)
	addr := tel.serve(t, "Arith", testsvc.NewArith())
	plain := testsvc.Connect(t, addr, client.DefaultOption) // no middleware: the test sets the metadata

	const validTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const validParent = "00f067aa0ba902b7"
	tests := []struct {
		name       string
		md         map[string]string
		wantParent bool
	}{
		{"no metadata", nil, false},
		{"other metadata", map[string]string{"k": "v"}, false},
		{"garbage", map[string]string{"traceparent": "not a trace", "tracestate": "%%%", "baggage": "=;=;,,"}, false},
		{"bad hex", map[string]string{"traceparent": "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, false},
		{"zero trace id", map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, false},
		{"zero span id", map[string]string{"traceparent": "00-" + validTrace + "-0000000000000000-01"}, false},
		{"version ff", map[string]string{"traceparent": "ff-" + validTrace + "-" + validParent + "-01"}, false},
		{"truncated", map[string]string{"traceparent": "00-" + validTrace + "-00f067aa"}, false},
		{"huge", map[string]string{"traceparent": "00-" + validTrace + "-" + validParent + "-01" + string(make([]byte, 1<<16))}, false},
		{"valid", map[string]string{"traceparent": "00-" + validTrace + "-" + validParent + "-01", "tracestate": "game=1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel.spans.Reset()
			ctx := context.Background()
			if tt.md != nil {
				ctx = client.WithMetadata(ctx, tt.md)
			}
			var reply testsvc.Reply
			if err := plain.Call(ctx, "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &reply); err != nil || reply.C != 6 {
				t.Fatalf("call: %v, %d", err, reply.C)
			}
			spans := tel.spans.GetSpans()
			if len(spans) != 1 || spans[0].SpanKind != trace.SpanKindServer {
				t.Fatalf("spans %v", names(spans))
			}
			s := spans[0]
			if !s.SpanContext.IsValid() {
				t.Fatal("invalid span context")
			}
			if !tt.wantParent {
				if s.Parent.IsValid() {
					t.Fatalf("parent %v, want a root span", s.Parent)
				}
				return
			}
			if s.SpanContext.TraceID().String() != validTrace || s.Parent.SpanID().String() != validParent ||
				!s.Parent.IsRemote() || s.SpanContext.TraceState().Get("game") != "1" {
				t.Fatalf("span %v parent %v, want trace %s parent %s", s.SpanContext, s.Parent, validTrace, validParent)
			}
		})
	}
}

// The client keeps the metadata the caller set and adds the trace context to it.
func TestClientKeepsMetadata(t *testing.T) {
	tel := newTelemetry(t)
	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, tel.clientOption())
	ctx, span := tel.tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()

	tests := []struct {
		name string
		md   map[string]string
	}{
		{"none", nil},
		{"caller's", map[string]string{"k": "v", "player": "7"}},
		{"stale traceparent", map[string]string{"k": "v", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel.spans.Reset()
			callCtx := ctx
			if tt.md != nil {
				callCtx = client.WithMetadata(ctx, tt.md)
			}
			before := maps.Clone(tt.md)
			var got map[string]string
			if err := c.Call(callCtx, "Arith.EchoMetadata", &testsvc.Args{}, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.md {
				if k != "traceparent" && got[k] != v {
					t.Errorf("server saw %s=%q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			spans := tel.spans.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("spans %v", names(spans))
			}
			sc := spans[0].SpanContext
			want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
			if got["traceparent"] != want {
				t.Errorf("server saw traceparent %q, want the client span's %q", got["traceparent"], want)
			}
			if !maps.Equal(tt.md, before) {
				t.Errorf("the caller's map was modified: %v, was %v", tt.md, before)
			}
		})
	}
}

// With the default (global, no-op) providers the middleware does nothing visible and sends
// no trace context.
func TestDefaultProvidersAreNoops(t *testing.T) {
	s := server.NewServer(server.WithMiddleware(briskotel.ServerMiddleware()))
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{briskotel.ClientMiddleware()}
	c := testsvc.Connect(t, addr, opt)
	var got map[string]string
	ctx := client.WithMetadata(context.Background(), map[string]string{"k": "v"})
	if err := c.Call(ctx, "Arith.EchoMetadata", &testsvc.Args{}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["k"] != "v" {
		t.Fatalf("server saw %v, want only k=v", got)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind.String()+" "+s.Name)
	}
	return out
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value.Emit()
	}
	return out
}

// slashed turns "Service.Method" into "Service/Method".
func slashed(call string) string {
	for i := len(call) - 1; i >= 0; i-- {
		if call[i] == '.' {
			return call[:i] + "/" + call[i+1:]
		}
	}
	return call
}
