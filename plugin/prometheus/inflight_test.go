package prometheus_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/server"
)

// TestInFlight holds calls in their handler and scrapes: the gauge shows them, under the
// method's name when it is listed or learned, and is back to 0 once they end.
func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []briskprom.Option
		firstWave map[string]string // labels of the first calls while they run
	}{
		{"allowlist", []briskprom.Option{briskprom.WithService("Arith", testsvc.NewArith())}, sm("Arith", "Block")},
		{"learned", nil, sm("unknown", "unknown")}, // not learned before a call ends
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := briskprom.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, arith, addr := testsvc.NewArithServer(t, server.WithMiddleware(m.ServerMiddleware()))
			admin := httptest.NewServer(m.Handler())
			t.Cleanup(admin.Close)
			hc := newHTTPClient(t)
			c := testsvc.Connect(t, addr, client.DefaultOption)

			block := sm("Arith", "Block")
			for wave, labels := range []map[string]string{tc.firstWave, block} {
				const n = 3
				done := make(chan *client.Call, n)
				for i := range n {
					c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i, B: 2}, new(testsvc.Reply), done)
				}
				for range n {
					testsvc.Recv(t, arith.Entered, "a Block call to start")
				}
				f := scrape(t, hc, admin.URL)
				if got := f.value("brisk_server_in_flight_requests", labels); got != n {
					t.Errorf("wave %d: in_flight%v = %v, want %d", wave, labels, got, n)
				}
				for range n {
					arith.Release <- struct{}{}
				}
				for range n {
					if call := testsvc.Recv(t, done, "a Block call to end"); call.Error != nil {
						t.Fatalf("Block: %v", call.Error)
					}
				}
				// The gauge is lowered before the response is sent: no wait needed.
				f = scrape(t, hc, admin.URL)
				for _, l := range []map[string]string{tc.firstWave, block} {
					if got := f.value("brisk_server_in_flight_requests", l); got != 0 {
						t.Errorf("wave %d: after the calls, in_flight%v = %v, want 0", wave, l, got)
					}
				}
				if got, want := f.value("brisk_server_requests_total", smo("Arith", "Block", "ok")), float64(n*(wave+1)); got != want {
					t.Errorf("wave %d: requests_total{Block,ok} = %v, want %v", wave, got, want)
				}
				if got, want := f.value("brisk_server_request_duration_seconds", block), float64(n*(wave+1)); got != want {
					t.Errorf("wave %d: duration_count{Block} = %v, want %v", wave, got, want)
				}
			}
		})
	}
}
