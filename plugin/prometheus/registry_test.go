package prometheus_test

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-rpc/brisk/client"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
)

// accept tells m's hooks about one connection.
func accept(t *testing.T, m *briskprom.Metrics) {
	t.Helper()
	if err := m.ConnHooks().Accepted(&net.TCPConn{}); err != nil {
		t.Fatalf("Accepted: %v", err)
	}
}

func TestRegisterer(t *testing.T) {
	t.Run("own registries are separate", func(t *testing.T) {
		m1, err1 := briskprom.New()
		m2, err2 := briskprom.New()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		accept(t, m1)
		if got := gather(t, m1.Gatherer()).value("brisk_server_connections_total", nil); got != 1 {
			t.Errorf("m1 connections_total = %v, want 1", got)
		}
		if got := gather(t, m2.Gatherer()).value("brisk_server_connections_total", nil); got != 0 {
			t.Errorf("m2 connections_total = %v, want 0", got)
		}
		// Nothing went to the global registry.
		if got := gather(t, prom.DefaultGatherer).value("brisk_server_connections_total", nil); got != -1 {
			t.Errorf("the default registry has connections_total = %v", got)
		}
	})

	t.Run("a shared registry", func(t *testing.T) {
		reg := prom.NewRegistry()
		m1, err1 := briskprom.New(briskprom.WithRegisterer(reg))
		m2, err2 := briskprom.New(briskprom.WithRegisterer(reg))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		accept(t, m1)
		accept(t, m2)
		m2.ConnHooks().Closed(&net.TCPConn{})
		f := scrape(t, newHTTPClient(t), serve(t, m1))
		if got := f.value("brisk_server_connections_total", nil); got != 2 {
			t.Errorf("connections_total = %v, want 2", got)
		}
		if got := f.value("brisk_server_connections_active", nil); got != 1 {
			t.Errorf("connections_active = %v, want 1", got)
		}
	})

	t.Run("a name taken with another shape", func(t *testing.T) {
		reg := prom.NewRegistry()
		reg.MustRegister(prom.NewGauge(prom.GaugeOpts{Name: "brisk_server_connections_total", Help: "other"}))
		if m, err := briskprom.New(briskprom.WithRegisterer(reg)); err == nil || m != nil {
			t.Fatalf("New = %v, %v; want an error", m, err)
		}
	})

	t.Run("a registerer that cannot be gathered", func(t *testing.T) {
		reg := prom.NewRegistry()
		wrapped := prom.WrapRegistererWith(prom.Labels{"zone": "a"}, reg)
		m, err := briskprom.New(briskprom.WithRegisterer(wrapped))
		if err != nil {
			t.Fatal(err)
		}
		accept(t, m)
		if got := gather(t, reg).value("brisk_server_connections_total", map[string]string{"zone": "a"}); got != 1 {
			t.Errorf("registry connections_total{zone=a} = %v, want 1", got)
		}
		// Handler serves the Metrics' own collectors, unwrapped.
		if got := scrape(t, newHTTPClient(t), serve(t, m)).value("brisk_server_connections_total", nil); got != 1 {
			t.Errorf("handler connections_total = %v, want 1", got)
		}
	})
}

// serve serves m's Handler on an httptest server until cleanup and returns its URL.
func serve(t *testing.T, m *briskprom.Metrics) string {
	hs := httptest.NewServer(m.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestClientLimit: the client side makes at most WithMaxMethods label pairs too.
func TestClientLimit(t *testing.T) {
	m, err := briskprom.New(briskprom.WithMaxMethods(1))
	if err != nil {
		t.Fatal(err)
	}
	inv := m.ClientMiddleware()(func(context.Context, *client.Invocation) error { return nil })
	for _, method := range []string{"Mul", "Div", "Mul", "Sleep"} {
		if err := inv(context.Background(), &client.Invocation{ServicePath: "Arith", ServiceMethod: method}); err != nil {
			t.Fatal(err)
		}
	}
	f := gather(t, m.Gatherer())
	if got := f.value("brisk_client_requests_total", smo("Arith", "Mul", "ok")); got != 2 {
		t.Errorf("requests_total{Mul} = %v, want 2", got)
	}
	if got := f.value("brisk_client_requests_total", smo("unknown", "unknown", "ok")); got != 2 {
		t.Errorf("requests_total{unknown} = %v, want 2", got)
	}
	if got := len(f["brisk_client_requests_total"].GetMetric()); got != 2 {
		t.Errorf("%d series, want 2", got)
	}
}
