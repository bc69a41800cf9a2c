package prometheus

import (
	"context"
	"errors"
	"net"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-rpc/brisk/server"
)

// serverSeries are the server collectors of one label pair.
type serverSeries struct {
	requests  outcomeCounters
	duration  prom.Observer
	inFlight  prom.Gauge
	reqBytes  prom.Observer
	respBytes prom.Observer
}

func (m *Metrics) newServerSeries(service, method string) *serverSeries {
	return &serverSeries{
		requests:  outcomeCounters{vec: m.srvRequests, service: service, method: method},
		duration:  m.srvDuration.WithLabelValues(service, method),
		inFlight:  m.srvInFlight.WithLabelValues(service, method),
		reqBytes:  m.srvReqBytes.WithLabelValues(service, method),
		respBytes: m.srvRespBytes.WithLabelValues(service, method),
	}
}

// ServerMiddleware counts and times every request that reaches it. Put it first in
// server.WithMiddleware (outermost), so that it sees requests that middleware inside it
// refuses (a rate limiter returning server.ErrRateLimited counts as "refused").
func (m *Metrics) ServerMiddleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			s, final := m.serverSeriesAtEntry(inv.ServicePath, inv.ServiceMethod)
			s.inFlight.Inc()
			start := time.Now()
			err := next(ctx, inv)
			elapsed := time.Since(start)
			s.inFlight.Dec()
			oc, methodMissing := serverOutcome(err)
			if !final {
				s = m.learn(inv.ServicePath, inv.ServiceMethod, oc, methodMissing)
			}
			s.requests.inc(oc)
			s.duration.Observe(elapsed.Seconds())
			s.reqBytes.Observe(float64(inv.PayloadSize))
			if err == nil && !inv.Oneway {
				s.respBytes.Observe(float64(inv.ReplySize))
			}
			return err
		}
	}
}

// serverSeriesAtEntry returns the series a request starts under, and whether they are also
// the ones it ends under. With an allowlist the labels are known at once; without one, a
// pair not learned yet starts under ("unknown", "unknown").
func (m *Metrics) serverSeriesAtEntry(service, method string) (*serverSeries, bool) {
	if m.allow != nil {
		methods, listed := m.allow[service]
		switch {
		case methods[method]:
			return m.srv.add(service, method), true
		case listed:
			return m.srv.add(service, Unknown), true
		default:
			return m.srv.other(), true
		}
	}
	if s, ok := m.srv.get(service, method); ok {
		return s, true
	}
	return m.srv.other(), false
}

// learn returns the series a request of a pair not learned yet ends under, learning the
// pair if the outcome shows that the method exists.
func (m *Metrics) learn(service, method string, oc outcome, methodMissing bool) *serverSeries {
	switch {
	case oc == notFound && methodMissing:
		return m.srv.add(service, Unknown) // the service exists
	case oc == notFound || oc == refused:
		return m.srv.other()
	default:
		return m.srv.add(service, method)
	}
}

// serverOutcome classifies a handler's error; methodMissing reports that the service
// exists but the method does not.
func serverOutcome(err error) (oc outcome, methodMissing bool) {
	switch {
	case err == nil:
		return ok, false
	case server.IsRefused(err):
		return refused, false
	case errors.Is(err, context.DeadlineExceeded):
		return timeout, false
	case errors.Is(err, context.Canceled):
		return canceled, false
	}
	switch {
	case errors.Is(err, server.ErrUnknownService):
		return notFound, false
	case errors.Is(err, server.ErrUnknownMethod):
		return notFound, true
	}
	return failed, false
}

// ConnHooks counts the server's connections: pass it to server.WithConnHooks. Every
// connection a port accepts counts, HTTP ones included, unless a hook before this one
// refuses it.
func (m *Metrics) ConnHooks() server.ConnHooks {
	return server.ConnHooks{
		Accepted: func(net.Conn) error {
			m.connTotal.Inc()
			m.connActive.Inc()
			return nil
		},
		Closed: func(net.Conn) { m.connActive.Dec() },
	}
}
