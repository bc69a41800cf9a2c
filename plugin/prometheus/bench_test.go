package prometheus_test

import (
	"context"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/server"
)

// The cost the middleware adds to a request of a known method, without the network.
func BenchmarkServerMiddleware(b *testing.B) {
	m, err := briskprom.New()
	if err != nil {
		b.Fatal(err)
	}
	h := m.ServerMiddleware()(func(context.Context, *server.Invocation) error { return nil })
	inv := &server.Invocation{ServicePath: "Arith", ServiceMethod: "Mul", PayloadSize: 10, ReplySize: 4}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = h(ctx, inv)
		}
	})
}

func BenchmarkClientMiddleware(b *testing.B) {
	m, err := briskprom.New()
	if err != nil {
		b.Fatal(err)
	}
	h := m.ClientMiddleware()(func(context.Context, *client.Invocation) error { return nil })
	inv := &client.Invocation{ServicePath: "Arith", ServiceMethod: "Mul"}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = h(ctx, inv)
		}
	})
}
