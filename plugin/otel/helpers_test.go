package briskotel_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskotel "github.com/brisk-rpc/brisk/plugin/otel"
	"github.com/brisk-rpc/brisk/server"
)

// telemetry is an in-memory OpenTelemetry setup: spans go to an in-memory exporter as they
// end (a synchronous processor: no goroutine), metrics are read on demand.
type telemetry struct {
	tp     *sdktrace.TracerProvider
	spans  *tracetest.InMemoryExporter
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	opts   []briskotel.Option
}

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	tel.opts = []briskotel.Option{
		briskotel.WithTracerProvider(tel.tp),
		briskotel.WithMeterProvider(tel.mp),
		briskotel.WithPropagator(w3c),
	}
	t.Cleanup(func() {
		if err := tel.tp.Shutdown(context.Background()); err != nil {
			t.Errorf("tracer provider shutdown: %v", err)
		}
		if err := tel.mp.Shutdown(context.Background()); err != nil {
			t.Errorf("meter provider shutdown: %v", err)
		}
	})
	return tel
}

// clientOption is client.DefaultOption with the client middleware.
func (tel *telemetry) clientOption() client.Option {
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{briskotel.ClientMiddleware(tel.opts...)}
	return opt
}

// serve registers rcvr as name on a new server with the server middleware (then more) and
// serves it on loopback until cleanup.
func (tel *telemetry) serve(t testing.TB, name string, rcvr any, more ...server.Middleware) string {
	t.Helper()
	mw := append([]server.Middleware{briskotel.ServerMiddleware(tel.opts...)}, more...)
	s := server.NewServer(server.WithMiddleware(mw...), server.WithConnHooks(briskotel.ConnHooks(tel.opts...)))
	if err := s.RegisterName(name, rcvr, ""); err != nil {
		t.Fatal(err)
	}
	return testsvc.Serve(t, s)
}

// collect reads every metric.
func (tel *telemetry) collect(t testing.TB) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != briskotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// key names a data point by its attributes, "rpc.method outcome" when it has them, with
// "sys=" prepended when rpc.system.name is not brisk and "error.type=" appended when it
// differs from the outcome.
func key(set attribute.Set) string {
	var parts []string
	if v, _ := set.Value("rpc.system.name"); v.AsString() != "brisk" {
		parts = append(parts, "sys="+v.Emit())
	}
	if v, ok := set.Value("rpc.method"); ok {
		parts = append(parts, v.AsString())
	}
	o, ok := set.Value("brisk.outcome")
	if ok {
		parts = append(parts, o.AsString())
	}
	et, hasET := set.Value("error.type")
	switch {
	case ok && o.AsString() == "ok" && hasET:
		parts = append(parts, "error.type="+et.AsString())
	case ok && o.AsString() != "ok" && et.AsString() != o.AsString():
		parts = append(parts, "error.type="+et.Emit())
	}
	return strings.Join(parts, " ")
}

// sums returns an Int64 sum's points by key.
func sums(t testing.TB, data map[string]metricdata.Aggregation, name string) map[string]int64 {
	t.Helper()
	s, ok := data[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("metric %s is %T, want an int64 sum", name, data[name])
	}
	out := map[string]int64{}
	for _, p := range s.DataPoints {
		out[key(p.Attributes)] = p.Value
	}
	return out
}

// histCounts returns a histogram's point counts by key, and checks that bucket counts add
// up to the count.
func histCounts[N int64 | float64](t testing.TB, data map[string]metricdata.Aggregation, name string) map[string]uint64 {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[N])
	if !ok {
		t.Fatalf("metric %s is %T", name, data[name])
	}
	out := map[string]uint64{}
	for _, p := range h.DataPoints {
		var n uint64
		for _, b := range p.BucketCounts {
			n += b
		}
		if n != p.Count {
			t.Errorf("%s %s: buckets hold %d, count %d", name, key(p.Attributes), n, p.Count)
		}
		out[key(p.Attributes)] = p.Count
	}
	return out
}

// show prints a map sorted, for failure messages.
func show[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %v", k, m[k])
	}
	return b.String()
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// histSum returns the sum of an int64 histogram's single point.
func histSum(t testing.TB, data map[string]metricdata.Aggregation, name string) int64 {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[int64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("metric %s: %+v", name, data[name])
	}
	return h.DataPoints[0].Sum
}
