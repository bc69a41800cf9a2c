package prometheus_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/brisk-rpc/brisk/server"
)

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// scrape GETs url with hc and parses the text exposition.
func scrape(t testing.TB, hc *http.Client, url string) families {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape of %s: %v", url, err)
	}
	return fams
}

// newHTTPClient returns a client with a transport of its own, whose idle connections are
// closed at cleanup (no leaked goroutines).
func newHTTPClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// find returns the metric of family name whose labels are exactly labels.
func (f families) find(name string, labels map[string]string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns a counter's or gauge's value, or a histogram's sample count; -1 if the
// series is absent.
func (f families) value(name string, labels map[string]string) float64 {
	m := f.find(name, labels)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// sum returns a histogram's sample sum, or -1 if the series is absent.
func (f families) sum(name string, labels map[string]string) float64 {
	m := f.find(name, labels)
	if m == nil || m.Histogram == nil {
		return -1
	}
	return m.Histogram.GetSampleSum()
}

// labelValues returns the sorted distinct values of label in family name.
func (f families) labelValues(name, label string) []string {
	set := map[string]bool{}
	if fam := f[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					set[lp.GetValue()] = true
				}
			}
		}
	}
	var out []string
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// sm and smo make label sets.
func sm(service, method string) map[string]string {
	return map[string]string{"service": service, "method": method}
}

func smo(service, method, outcome string) map[string]string {
	return map[string]string{"service": service, "method": method, "outcome": outcome}
}

// refuseMarked is a rate limiter stand-in: it refuses requests whose metadata has
// "refuse", with server.ErrRateLimited.
func refuseMarked(next server.Handler) server.Handler {
	return func(ctx context.Context, inv *server.Invocation) error {
		if inv.Metadata["refuse"] != "" {
			return server.ErrRateLimited
		}
		return next(ctx, inv)
	}
}

// sizes records what the server saw of each request: the payload sizes, and the reply
// sizes of the successful two-way ones.
type sizes struct {
	mu      sync.Mutex
	payload map[string]int // by "Service.Method"
	reply   map[string]int
}

func newSizes() *sizes { return &sizes{payload: map[string]int{}, reply: map[string]int{}} }

func (s *sizes) middleware(next server.Handler) server.Handler {
	return func(ctx context.Context, inv *server.Invocation) error {
		err := next(ctx, inv)
		s.mu.Lock()
		defer s.mu.Unlock()
		key := inv.ServicePath + "." + inv.ServiceMethod
		s.payload[key] += inv.PayloadSize
		if err == nil && !inv.Oneway {
			s.reply[key] += inv.ReplySize
		}
		return err
	}
}

func (s *sizes) get(key string) (payload, reply int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payload[key], s.reply[key]
}

// gather collects g's metrics as a scrape would see them.
func gather(t testing.TB, g prom.Gatherer) families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	f := families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f
}
