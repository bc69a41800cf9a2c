package dashboard_test

import (
	"context"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/dashboard"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// newServer serves Arith on loopback TCP with st's middleware and hooks.
func newServer(t *testing.T, st *dashboard.Stats, metadata string) (*server.Server, *testsvc.Arith, string) {
	t.Helper()
	s := server.NewServer(server.WithMiddleware(st.Middleware()), server.WithConnHooks(st.ConnHooks()))
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, metadata); err != nil {
		t.Fatalf("register: %v", err)
	}
	return s, a, testsvc.Serve(t, s)
}

func methodStats(snap dashboard.Snapshot, service, method string) (dashboard.MethodStats, bool) {
	for _, m := range snap.Methods {
		if m.Service == service && m.Method == method {
			return m, true
		}
	}
	return dashboard.MethodStats{}, false
}

func TestStatsCountCallsOverTCP(t *testing.T) {
	st := dashboard.NewStats()
	_, _, addr := newServer(t, st, "")
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := context.Background()

	const muls, divErrors = 40, 7
	for i := 0; i < muls; i++ {
		var r testsvc.Reply
		if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: i, B: 2}, &r); err != nil || r.C != 2*i {
			t.Fatalf("Mul: %v, %d", err, r.C)
		}
	}
	for i := 0; i < divErrors; i++ {
		if err := c.Call(ctx, "Arith.Div", &testsvc.Args{A: 1, B: 0}, &testsvc.Reply{}); err == nil {
			t.Fatal("Div by zero succeeded")
		}
	}
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Div", &testsvc.Args{A: 9, B: 3}, &r); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "Arith.NoSuchMethod", &testsvc.Args{}, &r); err == nil {
		t.Fatal("an unknown method succeeded")
	}
	if err := c.Call(ctx, "Arith.Sleep", &testsvc.SleepArgs{Millis: 30}, &r); err != nil {
		t.Fatal(err)
	}

	snap := st.Snapshot()
	tests := []struct {
		service, method string
		calls, errors   uint64
	}{
		{"Arith", "Mul", muls, 0},
		{"Arith", "Div", divErrors + 1, divErrors},
		{"Arith", "Sleep", 1, 0},
		{dashboard.NotFoundService, "", 1, 1},
	}
	for _, tt := range tests {
		m, ok := methodStats(snap, tt.service, tt.method)
		if !ok {
			t.Errorf("%s.%s: no row in %+v", tt.service, tt.method, snap.Methods)
			continue
		}
		if m.Calls != tt.calls || m.Errors != tt.errors || m.WindowCalls != tt.calls || m.InFlight != 0 {
			t.Errorf("%s.%s: %+v, want %d calls, %d errors", tt.service, tt.method, m, tt.calls, tt.errors)
		}
		if m.Rate <= 0 {
			t.Errorf("%s.%s: rate %v, want > 0", tt.service, tt.method, m.Rate)
		}
	}
	if len(snap.Methods) != len(tests) {
		t.Errorf("%d rows, want %d: %+v", len(snap.Methods), len(tests), snap.Methods)
	}
	if div, _ := methodStats(snap, "Arith", "Div"); div.ErrorRate != float64(divErrors)/float64(divErrors+1) {
		t.Errorf("Div error rate %v, want %v", div.ErrorRate, float64(divErrors)/float64(divErrors+1))
	}
	sleep, _ := methodStats(snap, "Arith", "Sleep")
	if sleep.P50 < 30 || sleep.P99 > 30*1.125+50 || sleep.P50 > sleep.P99 {
		t.Errorf("Sleep(30 ms) percentiles %v/%v/%v ms", sleep.P50, sleep.P90, sleep.P99)
	}
	if mul, _ := methodStats(snap, "Arith", "Mul"); mul.P50 <= 0 || mul.P50 > mul.P99 {
		t.Errorf("Mul percentiles %v/%v/%v ms", mul.P50, mul.P90, mul.P99)
	}
	if want := uint64(muls + divErrors + 1 + 1 + 1); snap.Totals.Calls != want || snap.Totals.Errors != divErrors+1 {
		t.Errorf("totals %+v, want %d calls and %d errors", snap.Totals, want, divErrors+1)
	}

	// One client, which made every call.
	if !snap.ClientsTracked || len(snap.Clients) != 1 {
		t.Fatalf("clients %+v, want one", snap.Clients)
	}
	cl := snap.Clients[0]
	if cl.Calls != snap.Totals.Calls || cl.Network != "tcp" || cl.Address == "" || time.Since(cl.Since) > time.Minute {
		t.Errorf("client %+v, want tcp with %d calls", cl, snap.Totals.Calls)
	}
	c2 := testsvc.Connect(t, addr, client.DefaultOption)
	if err := c2.Call(ctx, "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Snapshot().Clients); n != 2 {
		t.Errorf("%d clients after a second connected, want 2", n)
	}
	_ = c2.Close()
	testsvc.Eventually(t, "the closed client to leave the list", func() bool { return len(st.Snapshot().Clients) == 1 })
}

func TestStatsInFlightOverTCP(t *testing.T) {
	st := dashboard.NewStats()
	_, a, addr := newServer(t, st, "")
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := context.Background()
	// The first call of a method makes its row; in-flight counts from the next.
	go func() { a.Release <- struct{}{} }()
	if err := c.Call(ctx, "Arith.Block", &testsvc.Args{A: 2, B: 3}, &testsvc.Reply{}); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, a.Entered, "the first Block call")
	const n = 3
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { done <- c.Call(ctx, "Arith.Block", &testsvc.Args{A: i, B: 1}, &testsvc.Reply{}) }()
	}
	for i := 0; i < n; i++ {
		testsvc.Recv(t, a.Entered, "a Block call")
	}
	if m, _ := methodStats(st.Snapshot(), "Arith", "Block"); m.InFlight != n {
		t.Errorf("in flight %d with %d calls blocked, want %d", m.InFlight, n, n)
	}
	close(a.Release)
	for i := 0; i < n; i++ {
		if err := testsvc.Recv(t, done, "a Block call to return"); err != nil {
			t.Error(err)
		}
	}
	if m, _ := methodStats(st.Snapshot(), "Arith", "Block"); m.InFlight != 0 || m.Calls != n+1 {
		t.Errorf("after: %+v, want 0 in flight and %d calls", m, n+1)
	}
}
