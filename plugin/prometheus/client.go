package prometheus

import (
	"context"
	"errors"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
)

// clientSeries are the client collectors of one label pair.
type clientSeries struct {
	requests outcomeCounters
	duration prom.Observer
}

func (m *Metrics) newClientSeries(service, method string) *clientSeries {
	return &clientSeries{
		requests: outcomeCounters{vec: m.cliRequests, service: service, method: method},
		duration: m.cliDuration.WithLabelValues(service, method),
	}
}

// ClientMiddleware counts and times calls: add it to client.Option.Middleware. It runs
// for Call and Go and, in an XClient, for every attempt (a call retried on another server
// counts once per attempt).
func (m *Metrics) ClientMiddleware() client.Middleware {
	return func(next client.Invoker) client.Invoker {
		return func(ctx context.Context, inv *client.Invocation) error {
			start := time.Now()
			err := next(ctx, inv)
			elapsed := time.Since(start)
			s := m.cli.add(inv.ServicePath, inv.ServiceMethod)
			s.requests.inc(clientOutcome(err))
			s.duration.Observe(elapsed.Seconds())
			return err
		}
	}
}

// clientOutcome classifies a call's error.
func clientOutcome(err error) outcome {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, context.DeadlineExceeded):
		return timeout
	case errors.Is(err, context.Canceled):
		return canceled
	case client.IsRefused(err):
		return refused
	}
	var se client.ServiceError
	if !errors.As(err, &se) {
		return unavailable
	}
	text := string(se)
	switch {
	case protocol.IsNotFoundText(text):
		return notFound
	case text == context.DeadlineExceeded.Error():
		return timeout // the server's deadline (the call's timeout, sent along) ended first
	case text == context.Canceled.Error():
		return canceled
	}
	return failed
}
