package briskotel_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// preferKey picks the server with key while it is a candidate, any other after.
type preferKey struct{ key string }

func (p preferKey) Select(_ client.SelectInfo, c []*client.Endpoint) int {
	for i, e := range c {
		if e.Key == p.key {
			return i
		}
	}
	return 0
}

// An XClient that fails over from a refusing server makes a client span per attempt, both
// children of the caller's span: the first marked refused, the second successful.
func TestXClientAttempts(t *testing.T) {
	tel := newTelemetry(t)
	overloaded := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error { return server.ErrOverloaded }
	}
	refusing := tel.serve(t, "Arith", testsvc.NewArith(), overloaded)
	ok := tel.serve(t, "Arith", testsvc.NewArith())
	d, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@" + refusing}, {Key: "tcp@" + ok}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	opt := tel.clientOption()
	opt.Selector = preferKey{key: "tcp@" + refusing}
	x := client.NewXClient("Arith", client.Failover, client.SelectByUser, d, opt)
	defer x.Close()

	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "caller")
	var reply testsvc.Reply
	err = x.Call(ctx, "Mul", &testsvc.Args{A: 6, B: 7}, &reply)
	parent.End()
	if err != nil || reply.C != 42 {
		t.Fatalf("call: %v, %d", err, reply.C)
	}
	var attempts []string
	for _, s := range tel.spans.GetSpans() {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		if s.Parent.SpanID() != parent.SpanContext().SpanID() || s.Name != "Arith/Mul" {
			t.Errorf("client span %q, parent %s, want Arith/Mul under the caller", s.Name, s.Parent.SpanID())
		}
		a := attrs(s.Attributes)
		attempts = append(attempts, fmt.Sprintf("%s/%v", a["brisk.outcome"], s.Status.Code))
	}
	if fmt.Sprint(attempts) != fmt.Sprintf("[refused/%v ok/%v]", codes.Error, codes.Unset) {
		t.Fatalf("attempts %v, want a refused one then a successful one", attempts)
	}
}

// A oneway call gets a server span marked brisk.oneway and no response size.
func TestOneway(t *testing.T) {
	tel := newTelemetry(t)
	arith := testsvc.NewArith()
	addr := tel.serve(t, "Arith", arith)
	c := testsvc.Connect(t, addr, tel.clientOption())
	if err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{A: 1}, nil); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, arith.Notified, "the notification")
	testsvc.Eventually(t, "the server span", func() bool { return len(tel.spans.GetSpans()) == 2 })
	for _, s := range tel.spans.GetSpans() {
		if s.SpanKind == trace.SpanKindServer && attrs(s.Attributes)["brisk.oneway"] != "true" {
			t.Errorf("server span attributes %v, want brisk.oneway", attrs(s.Attributes))
		}
	}
	data := tel.collect(t)
	if _, ok := data["rpc.server.response.size"]; ok {
		t.Errorf("a response size for a oneway call: %+v", data["rpc.server.response.size"])
	}
	if n := histCounts[int64](t, data, "rpc.server.request.size")["Arith/Notify ok"]; n != 1 {
		t.Errorf("request sizes: %d", n)
	}
}

// Many goroutines calling several methods at once are all counted (and -race checks the
// middleware's shared state).
func TestConcurrentCalls(t *testing.T) {
	tel := newTelemetry(t)
	addr := tel.serve(t, "Arith", testsvc.NewArith())
	c := testsvc.Connect(t, addr, tel.clientOption())
	const workers, calls = 16, 25
	methods := []string{"Arith.Mul", "Arith.Div", "Arith.Nope1", "Arith.Nope2"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				var reply testsvc.Reply
				_ = c.Call(context.Background(), methods[(w+i)%len(methods)], &testsvc.Args{A: i, B: 1}, &reply)
			}
		})
	}
	wg.Wait()
	want := map[string]int64{"Arith/Mul ok": workers * calls / 4, "Arith/Div ok": workers * calls / 4,
		"_OTHER service_error": workers * calls / 2}
	testsvc.Eventually(t, "every server call to be counted", func() bool {
		return equalMaps(sums(t, tel.collect(t), "brisk.server.calls"), want)
	})
	if got := len(tel.spans.GetSpans()); got != 2*workers*calls {
		t.Errorf("%d spans, want %d", got, 2*workers*calls)
	}
}
