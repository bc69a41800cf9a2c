package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/server"
)

// call is a batch of identical calls and the labels they must be counted under.
type call struct {
	method   string // "Service.Method"
	args     testsvc.Args
	refuse   bool // marked for refuseMarked
	oneway   bool
	n        int
	service  string // expected labels
	label    string
	outcome  string
	replySum bool // the reply sizes count in brisk_server_response_bytes
}

// metricsServer starts an Arith server whose middleware is metrics (outermost), sizes,
// then refuseMarked, with m's connection hooks; onPort also mounts /metrics and the
// gateway on the server's own port. It returns the server's address and the metrics URL.
func metricsServer(t *testing.T, m *briskprom.Metrics, sz *sizes, onPort bool) (*server.Server, *testsvc.Arith, string, string) {
	t.Helper()
	opts := []server.Option{
		server.WithMiddleware(m.ServerMiddleware(), sz.middleware, refuseMarked),
		server.WithConnHooks(m.ConnHooks()),
	}
	var mux *http.ServeMux
	if onPort {
		mux = http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		opts = append(opts, server.WithHTTPHandler(mux))
	}
	s, arith, addr := testsvc.NewArithServer(t, opts...)
	if onPort {
		mux.Handle("/", gateway.New(s))
		return s, arith, addr, "http://" + addr + "/metrics"
	}
	admin := httptest.NewServer(m.Handler())
	t.Cleanup(admin.Close)
	return s, arith, addr, admin.URL + "/metrics"
}

// TestServerMetrics makes calls of every outcome, hostile names among them, from two
// clients, scrapes over HTTP and checks every series exactly.
func TestServerMetrics(t *testing.T) {
	for _, tc := range []struct {
		name   string
		onPort bool
		conns  float64 // connections the server holds at the scrape
	}{
		{"admin port", false, 2},
		{"server port", true, 3}, // the scrape's own connection
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := briskprom.New()
			if err != nil {
				t.Fatal(err)
			}
			sz := newSizes()
			_, arith, addr, url := metricsServer(t, m, sz, tc.onPort)
			c1 := testsvc.Connect(t, addr, client.DefaultOption)
			c2 := testsvc.Connect(t, addr, client.DefaultOption)

			calls := []call{
				{method: "Arith.Mul", args: testsvc.Args{A: 6, B: 7}, n: 5, service: "Arith", label: "Mul", outcome: "ok", replySum: true},
				{method: "Arith.Div", args: testsvc.Args{A: 1, B: 0}, n: 3, service: "Arith", label: "Div", outcome: "error"},
				// Div is learned by now, so its refusals keep its name.
				{method: "Arith.Div", args: testsvc.Args{A: 1, B: 1}, refuse: true, n: 2, service: "Arith", label: "Div", outcome: "refused"},
				// A refusal of a pair never seen proves nothing about the name.
				{method: "Arith.EchoMetadata", refuse: true, n: 1, service: "unknown", label: "unknown", outcome: "refused"},
				{method: "Arith.Nope", n: 4, service: "Arith", label: "unknown", outcome: "not_found"},
				{method: "Nope.Mul", n: 2, service: "unknown", label: "unknown", outcome: "not_found"},
				{method: "Arith.Notify", args: testsvc.Args{A: 1}, oneway: true, n: 2, service: "Arith", label: "Notify", outcome: "ok"},
			}
			// A hostile client: a new name with every call.
			for i := range 50 {
				calls = append(calls, call{method: fmt.Sprintf("Arith.M%d", i), n: 1, service: "Arith", label: "unknown", outcome: "not_found"})
			}
			for i := range 20 {
				calls = append(calls, call{method: fmt.Sprintf("S%d.Mul", i), n: 1, service: "unknown", label: "unknown", outcome: "not_found"})
			}

			type pair struct{ service, method string }
			wantCount := map[pair]int{}
			wantOutcome := map[[3]string]int{}
			for i, cl := range calls {
				c := c1
				if i%2 == 1 {
					c = c2
				}
				ctx := context.Background()
				if cl.refuse {
					ctx = client.WithMetadata(ctx, map[string]string{"refuse": "1"})
				}
				for range cl.n {
					var reply any
					if !cl.oneway {
						reply = new(testsvc.Reply)
					}
					err := c.Call(ctx, cl.method, &cl.args, reply)
					if (err == nil) != (cl.outcome == "ok") {
						t.Fatalf("%s: err %v, want outcome %s", cl.method, err, cl.outcome)
					}
					if cl.oneway {
						testsvc.Recv(t, arith.Notified, "Notify")
					}
				}
				p := pair{cl.service, cl.label}
				wantCount[p] += cl.n
				wantOutcome[[3]string{cl.service, cl.label, cl.outcome}] += cl.n
			}

			wantPayload := map[pair]int{}
			wantReply := map[pair]int{}
			hc := newHTTPClient(t)
			// A oneway request is counted when its handler returns, after the client's
			// Call: wait for the last one.
			var f families
			testsvc.Eventually(t, "the oneway calls counted", func() bool {
				f = scrape(t, hc, url)
				return f.value("brisk_server_requests_total", smo("Arith", "Notify", "ok")) == 2
			})
			// What the server saw, summed by label pair (each method name once).
			seen := map[string]bool{}
			for _, cl := range calls {
				if seen[cl.method] {
					continue
				}
				seen[cl.method] = true
				payload, reply := sz.get(cl.method)
				wantPayload[pair{cl.service, cl.label}] += payload
				if cl.replySum {
					wantReply[pair{cl.service, cl.label}] += reply
				}
			}

			if got, want := f.labelValues("brisk_server_requests_total", "method"), []string{"Div", "Mul", "Notify", "unknown"}; !slices.Equal(got, want) {
				t.Errorf("method label values %q, want %q", got, want)
			}
			if got, want := f.labelValues("brisk_server_requests_total", "service"), []string{"Arith", "unknown"}; !slices.Equal(got, want) {
				t.Errorf("service label values %q, want %q", got, want)
			}
			if got := len(f["brisk_server_requests_total"].GetMetric()); got != len(wantOutcome) {
				t.Errorf("%d request series, want %d", got, len(wantOutcome))
			}
			for k, n := range wantOutcome {
				if got := f.value("brisk_server_requests_total", smo(k[0], k[1], k[2])); got != float64(n) {
					t.Errorf("requests_total%v = %v, want %d", k, got, n)
				}
			}
			for p, n := range wantCount {
				l := sm(p.service, p.method)
				if got := f.value("brisk_server_request_duration_seconds", l); got != float64(n) {
					t.Errorf("request_duration_seconds_count%v = %v, want %d", l, got, n)
				}
				if got := f.value("brisk_server_in_flight_requests", l); got != 0 {
					t.Errorf("in_flight_requests%v = %v, want 0", l, got)
				}
				if got := f.value("brisk_server_request_bytes", l); got != float64(n) {
					t.Errorf("request_bytes_count%v = %v, want %d", l, got, n)
				}
				if got := f.sum("brisk_server_request_bytes", l); got != float64(wantPayload[p]) {
					t.Errorf("request_bytes_sum%v = %v, want %d", l, got, wantPayload[p])
				}
			}
			if wantPayload[pair{"Arith", "Mul"}] == 0 || wantReply[pair{"Arith", "Mul"}] == 0 {
				t.Fatalf("sizes not recorded: %v %v", wantPayload, wantReply)
			}
			// Replies: the 5 Mul calls only (errors, refusals and oneway calls send none).
			mul := sm("Arith", "Mul")
			if got := f.value("brisk_server_response_bytes", mul); got != 5 {
				t.Errorf("response_bytes_count{Mul} = %v, want 5", got)
			}
			if got, want := f.sum("brisk_server_response_bytes", mul), float64(wantReply[pair{"Arith", "Mul"}]); got != want {
				t.Errorf("response_bytes_sum{Mul} = %v, want %v", got, want)
			}
			for _, l := range []map[string]string{sm("Arith", "Div"), sm("Arith", "Notify"), sm("unknown", "unknown")} {
				if got := f.value("brisk_server_response_bytes", l); got != 0 {
					t.Errorf("response_bytes_count%v = %v, want 0", l, got)
				}
			}

			if got := f.value("brisk_server_connections_active", nil); got != tc.conns {
				t.Errorf("connections_active = %v, want %v", got, tc.conns)
			}
			if got := f.value("brisk_server_connections_total", nil); got != tc.conns {
				t.Errorf("connections_total = %v, want %v", got, tc.conns)
			}

			// A client leaves: the active gauge drops, the total stays.
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}
			testsvc.Eventually(t, "connections_active to drop", func() bool {
				f = scrape(t, hc, url)
				return f.value("brisk_server_connections_active", nil) == tc.conns-1
			})
			if got := f.value("brisk_server_connections_total", nil); got != tc.conns {
				t.Errorf("connections_total after a close = %v, want %v", got, tc.conns)
			}
		})
	}
}
