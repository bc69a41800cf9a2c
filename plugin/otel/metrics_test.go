package briskotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// The call counters and histograms count every call by method and outcome, on both sides;
// the in-flight gauges return to zero; the connection hooks count connections.
func TestMetrics(t *testing.T) {
	tel := newTelemetry(t)
	refuse := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if inv.ServiceMethod == "Notify" {
				return server.ErrRateLimited
			}
			return next(ctx, inv)
		}
	}
	arith := testsvc.NewArith()
	addr := tel.serve(t, "Arith", arith, refuse)
	c := testsvc.Connect(t, addr, tel.clientOption())
	closed := testsvc.Connect(t, addr, tel.clientOption())

	var reply testsvc.Reply
	for i := range 3 {
		if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: i, B: 2}, &reply); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Call(context.Background(), "Arith.Div", &testsvc.Args{A: 1}, &reply); !client.IsServiceError(err) {
		t.Fatalf("Div by 0: %v", err)
	}
	if err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{}, &reply); !client.IsRefused(err) {
		t.Fatalf("Notify: %v, want a refusal", err)
	}
	if err := c.Call(context.Background(), "Arith.Nope", &testsvc.Args{}, &reply); !client.IsServiceError(err) {
		t.Fatalf("Nope: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := c.Call(ctx, "Arith.Block", &testsvc.Args{}, &reply)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("Block: %v, want the deadline", err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, &reply); err != client.ErrShutdown {
		t.Fatalf("call on a closed client: %v", err)
	}
	// The server's Block ends when its own deadline passes, after the client's: wait for it.
	testsvc.Recv(t, arith.Entered, "the first Block to run")
	testsvc.Recv(t, arith.CtxErr, "the server's Block to end")

	wantServer := map[string]int64{
		"Arith/Mul ok":            3,
		"Arith/Div service_error": 1,
		"Arith/Notify refused":    1,
		"_OTHER service_error":    1,
		"Arith/Block timeout":     1,
	}
	wantClient := map[string]int64{
		"Arith/Mul ok":             3,
		"Arith/Mul transport":      1,
		"Arith/Div service_error":  1,
		"Arith/Notify refused":     1,
		"Arith/Nope service_error": 1,
		"Arith/Block timeout":      1,
	}
	// The server records a call after its handler returns, which the test cannot observe:
	// poll until it has.
	var data = tel.collect(t)
	testsvc.Eventually(t, "the server's metrics of Block", func() bool {
		data = tel.collect(t)
		return sums(t, data, "brisk.server.calls")["Arith/Block timeout"] == 1 &&
			sums(t, data, "brisk.server.connections.active")[""] == 1
	})

	for _, side := range []struct {
		name string
		want map[string]int64
	}{{"server", wantServer}, {"client", wantClient}} {
		calls := sums(t, data, "brisk."+side.name+".calls")
		if !equalMaps(calls, side.want) {
			t.Errorf("brisk.%s.calls:%s\nwant:%s", side.name, show(calls), show(side.want))
		}
		wantCounts := map[string]uint64{}
		for k, v := range side.want {
			wantCounts[k] = uint64(v)
		}
		durations := histCounts[float64](t, data, "rpc."+side.name+".call.duration")
		if !equalMaps(durations, wantCounts) {
			t.Errorf("rpc.%s.call.duration counts:%s\nwant:%s", side.name, show(durations), show(wantCounts))
		}
		if side.name == "server" {
			sizes := histCounts[int64](t, data, "rpc.server.request.size")
			if !equalMaps(sizes, wantCounts) {
				t.Errorf("rpc.server.request.size counts:%s\nwant:%s", show(sizes), show(wantCounts))
			}
		}
		for k, v := range sums(t, data, "brisk."+side.name+".active_calls") {
			if v != 0 {
				t.Errorf("brisk.%s.active_calls{%s} = %d, want 0", side.name, k, v)
			}
		}
	}
	replies := histCounts[int64](t, data, "rpc.server.response.size")
	if !equalMaps(replies, map[string]uint64{"Arith/Mul ok": 3}) {
		t.Errorf("rpc.server.response.size counts:%s\nwant only the 3 replies of Mul", show(replies))
	}
	if opened := sums(t, data, "brisk.server.connections.opened"); !equalMaps(opened, map[string]int64{"": 2}) {
		t.Errorf("connections opened:%s, want 2", show(opened))
	}

	// A call in flight is counted on both sides until it ends.
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "Arith.Block", &testsvc.Args{}, &testsvc.Reply{}) }()
	testsvc.Recv(t, arith.Entered, "Block to run")
	data = tel.collect(t)
	if got := sums(t, data, "brisk.server.active_calls")[""]; got != 1 {
		t.Errorf("server in flight: %d, want 1", got)
	}
	if got := sums(t, data, "brisk.client.active_calls")["Arith/Block"]; got != 1 {
		t.Errorf("client in flight: %v", show(sums(t, data, "brisk.client.active_calls")))
	}
	arith.Release <- struct{}{}
	if err := testsvc.Recv(t, done, "Block to end"); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the server's in-flight count to return to 0", func() bool {
		return sums(t, tel.collect(t), "brisk.server.active_calls")[""] == 0
	})
	if got := sums(t, tel.collect(t), "brisk.client.active_calls")["Arith/Block"]; got != 0 {
		t.Errorf("client in flight after the call: %d", got)
	}
}

// Sizes are the encoded payloads: the request and reply sizes the server saw.
func TestSizeMetrics(t *testing.T) {
	tel := newTelemetry(t)
	sizes := make(chan [2]int, 1)
	spy := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			err := next(ctx, inv)
			sizes <- [2]int{inv.PayloadSize, inv.ReplySize}
			return err
		}
	}
	addr := tel.serve(t, "Arith", testsvc.NewArith(), spy)
	c := testsvc.Connect(t, addr, tel.clientOption())
	var reply testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1000, B: 1000}, &reply); err != nil {
		t.Fatal(err)
	}
	seen := testsvc.Recv(t, sizes, "the sizes the server saw")
	data := tel.collect(t)
	for name, want := range map[string]int{"rpc.server.request.size": seen[0], "rpc.server.response.size": seen[1]} {
		h := histCounts[int64](t, data, name)
		if h["Arith/Mul ok"] != 1 {
			t.Fatalf("%s: %s", name, show(h))
		}
		if got := histSum(t, data, name); got != int64(want) || want == 0 {
			t.Errorf("%s sum %d, want %d", name, got, want)
		}
	}
}
