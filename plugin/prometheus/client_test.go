package prometheus_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/server"
)

// TestClientMetrics makes calls of every outcome over a real connection and scrapes the
// client-side series.
func TestClientMetrics(t *testing.T) {
	m, err := briskprom.New()
	if err != nil {
		t.Fatal(err)
	}
	_, arith, addr := testsvc.NewArithServer(t, server.WithMiddleware(refuseMarked))
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{m.ClientMiddleware()}
	c := testsvc.Connect(t, addr, opt)
	admin := httptest.NewServer(m.Handler())
	t.Cleanup(admin.Close)
	ctx := context.Background()
	args := &testsvc.Args{A: 6, B: 7}

	for range 3 {
		if err := c.Call(ctx, "Arith.Mul", args, new(testsvc.Reply)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := c.Call(ctx, "Arith.Div", &testsvc.Args{A: 1}, new(testsvc.Reply)); err == nil {
			t.Fatal("Div by zero succeeded")
		}
	}
	if err := c.Call(ctx, "Arith.Nope", args, new(testsvc.Reply)); err == nil {
		t.Fatal("Arith.Nope succeeded")
	}
	refuse := client.WithMetadata(ctx, map[string]string{"refuse": "1"})
	if err := c.Call(refuse, "Arith.Mul", args, new(testsvc.Reply)); !client.IsRefused(err) {
		t.Fatalf("refused call: %v", err)
	}

	// A timeout: the call's deadline passes while Block holds it.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = c.Call(tctx, "Arith.Block", args, new(testsvc.Reply))
	cancel()
	if err == nil {
		t.Fatal("Block returned before its deadline")
	}
	testsvc.Recv(t, arith.Entered, "the timed-out Block to start")
	testsvc.Recv(t, arith.CtxErr, "the timed-out Block to end")

	// A cancellation while Block holds the call; then let the handler go.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan *client.Call, 1)
	c.Go(cctx, "Arith.Block", args, new(testsvc.Reply), done)
	testsvc.Recv(t, arith.Entered, "the cancelled Block to start")
	cancel()
	if call := testsvc.Recv(t, done, "the cancelled call"); !errors.Is(call.Error, context.Canceled) {
		t.Fatalf("cancelled call: %v", call.Error)
	}
	arith.Release <- struct{}{}

	// A closed client.
	closed := client.NewClient(opt)
	if err := closed.Connect("tcp", addr); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Call(ctx, "Arith.Mul", args, new(testsvc.Reply)); err == nil {
		t.Fatal("a closed client's call succeeded")
	}

	f := scrape(t, newHTTPClient(t), admin.URL)
	want := map[[3]string]float64{
		{"Arith", "Mul", "ok"}:          3,
		{"Arith", "Div", "error"}:       2,
		{"Arith", "Nope", "not_found"}:  1,
		{"Arith", "Mul", "refused"}:     1,
		{"Arith", "Block", "timeout"}:   1,
		{"Arith", "Block", "canceled"}:  1,
		{"Arith", "Mul", "unavailable"}: 1,
	}
	if got := len(f["brisk_client_requests_total"].GetMetric()); got != len(want) {
		t.Errorf("%d client request series, want %d", got, len(want))
	}
	for k, n := range want {
		if got := f.value("brisk_client_requests_total", smo(k[0], k[1], k[2])); got != n {
			t.Errorf("client requests_total%v = %v, want %v", k, got, n)
		}
	}
	for method, n := range map[string]float64{"Mul": 5, "Div": 2, "Nope": 1, "Block": 2} {
		if got := f.value("brisk_client_request_duration_seconds", sm("Arith", method)); got != n {
			t.Errorf("client duration_count{%s} = %v, want %v", method, got, n)
		}
	}
	// The timed-out call took at least its 50 ms deadline.
	if got := f.sum("brisk_client_request_duration_seconds", sm("Arith", "Block")); got < 0.05 {
		t.Errorf("client duration_sum{Block} = %v, want at least 0.05", got)
	}
	// No server-side series: this Metrics is only the client's.
	if got := f.value("brisk_server_requests_total", smo("Arith", "Mul", "ok")); got != -1 {
		t.Errorf("server series present: %v", got)
	}
}
