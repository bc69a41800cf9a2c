package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// step is one request through the server middleware: its names, what the handler inside
// returns, and the series it must be counted under.
type step struct {
	service, method string
	err             error
	want            [3]string // service, method, outcome labels
}

// noService and noMethod stand for the server's errors for a missing service or method,
// which wrap server.ErrUnknownService and server.ErrUnknownMethod.
func noService(s string) error {
	return fmt.Errorf("%s%s: %w", protocol.TextUnknownService, s, server.ErrUnknownService)
}

func noMethod(s, m string) error {
	return fmt.Errorf("%s%s of service %s: %w", protocol.TextUnknownMethod, m, s, server.ErrUnknownMethod)
}

// TestServerLabels runs sequences of requests straight through the middleware (the
// handler inside returns the server's own error texts) and checks the series each lands in.
func TestServerLabels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []briskprom.Option
		steps []step
	}{
		{"learned", nil, []step{
			{"Arith", "Mul", nil, [3]string{"Arith", "Mul", "ok"}},
			{"Arith", "Div", errors.New("divide by zero"), [3]string{"Arith", "Div", "error"}},
			{"Arith", "Div", fmt.Errorf("limiter: %w", server.ErrRateLimited), [3]string{"Arith", "Div", "refused"}},
			{"Arith", "Sleep", server.ErrOverloaded, [3]string{"unknown", "unknown", "refused"}},
			{"Arith", "Sleep", errors.New(protocol.TextShuttingDown), [3]string{"unknown", "unknown", "refused"}},
			{"Arith", "Sleep", context.DeadlineExceeded, [3]string{"Arith", "Sleep", "timeout"}},
			{"Arith", "Block", fmt.Errorf("held: %w", context.Canceled), [3]string{"Arith", "Block", "canceled"}},
			{"Arith", "Hostile", noMethod("Arith", "Hostile"), [3]string{"Arith", "unknown", "not_found"}},
			{"Hostile", "Mul", noService("Hostile"), [3]string{"unknown", "unknown", "not_found"}},
			// The pair was never learned: still nothing learned from a not-found.
			{"Arith", "Hostile", nil, [3]string{"Arith", "Hostile", "ok"}},
		}},
		{"allowlist", []briskprom.Option{briskprom.WithMethods("Arith", "Mul", "Div")}, []step{
			{"Arith", "Mul", nil, [3]string{"Arith", "Mul", "ok"}},
			{"Arith", "Div", server.ErrRateLimited, [3]string{"Arith", "Div", "refused"}},
			{"Arith", "Sleep", nil, [3]string{"Arith", "unknown", "ok"}},
			{"Arith", "Hostile", noMethod("Arith", "Hostile"), [3]string{"Arith", "unknown", "not_found"}},
			{"Other", "Mul", nil, [3]string{"unknown", "unknown", "ok"}},
			{"Hostile", "Mul", noService("Hostile"), [3]string{"unknown", "unknown", "not_found"}},
		}},
		{"limit of 2", []briskprom.Option{briskprom.WithMaxMethods(2)}, []step{
			{"Arith", "Mul", nil, [3]string{"Arith", "Mul", "ok"}},
			{"Arith", "Hostile", noMethod("Arith", "Hostile"), [3]string{"Arith", "unknown", "not_found"}},
			{"Arith", "Div", nil, [3]string{"unknown", "unknown", "ok"}},
			{"Arith", "Mul", errors.New("x"), [3]string{"Arith", "Mul", "error"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := briskprom.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var next error
			h := m.ServerMiddleware()(func(ctx context.Context, inv *server.Invocation) error { return next })
			want := map[[3]string]float64{}
			for i, st := range tc.steps {
				next = st.err
				inv := &server.Invocation{ServicePath: st.service, ServiceMethod: st.method}
				if err := h(context.Background(), inv); err != st.err {
					t.Fatalf("step %d: the middleware returned %v, want %v", i, err, st.err)
				}
				want[st.want]++
				f := gather(t, m.Gatherer())
				if got := len(f["brisk_server_requests_total"].GetMetric()); got != len(want) {
					t.Fatalf("step %d (%s.%s): %d request series, want %d", i, st.service, st.method, got, len(want))
				}
				for k, n := range want {
					if got := f.value("brisk_server_requests_total", smo(k[0], k[1], k[2])); got != n {
						t.Fatalf("step %d (%s.%s): requests_total%v = %v, want %v", i, st.service, st.method, k, got, n)
					}
				}
			}
		})
	}
}

// TestClientOutcomes classifies the errors a call can end with.
func TestClientOutcomes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{client.ServiceError("divide by zero"), "error"},
		{client.ServiceError(protocol.TextRateLimited), "refused"},
		{fmt.Errorf("attempt 2: %w", client.ServiceError(protocol.TextOverloaded+": queue full")), "refused"},
		{client.ServiceError(protocol.TextShuttingDown), "refused"},
		{client.ServiceError("brisk: can't find method Nope of service Arith"), "not_found"},
		{client.ServiceError("brisk: can't find service Nope"), "not_found"},
		{context.DeadlineExceeded, "timeout"},
		{client.ServiceError(context.DeadlineExceeded.Error()), "timeout"},
		{fmt.Errorf("call: %w", context.Canceled), "canceled"},
		{&client.TransportError{Op: "read", Err: errors.New("connection reset")}, "unavailable"},
		{client.ErrShutdown, "unavailable"},
		{client.ErrNoAvailableServer, "unavailable"},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			m, err := briskprom.New()
			if err != nil {
				t.Fatal(err)
			}
			inv := m.ClientMiddleware()(func(ctx context.Context, inv *client.Invocation) error { return tc.err })
			if err := inv(context.Background(), &client.Invocation{ServicePath: "Arith", ServiceMethod: "Mul"}); err != tc.err {
				t.Fatalf("the middleware returned %v, want %v", err, tc.err)
			}
			f := gather(t, m.Gatherer())
			if got := f.value("brisk_client_requests_total", smo("Arith", "Mul", tc.want)); got != 1 {
				t.Errorf("requests_total{outcome=%q} = %v, want 1", tc.want, got)
			}
			if got := len(f["brisk_client_requests_total"].GetMetric()); got != 1 {
				t.Errorf("%d client series, want 1", got)
			}
			if got := f.value("brisk_client_request_duration_seconds", sm("Arith", "Mul")); got != 1 {
				t.Errorf("client duration_count = %v, want 1", got)
			}
		})
	}
}
