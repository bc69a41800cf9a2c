package client_test

import (
	"context"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// BenchmarkCall measures a small msgpack call over one loopback connection from
// GOMAXPROCS goroutines at once.
func BenchmarkCall(b *testing.B) {
	_, _, addr := testsvc.NewArithServer(b)
	opt := client.DefaultOption
	opt.SerializeType = protocol.MsgPack
	c := testsvc.Connect(b, addr, opt)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		args := &testsvc.Args{A: 7, B: 8}
		var reply testsvc.Reply
		for pb.Next() {
			if err := c.Call(ctx, "Arith.Mul", args, &reply); err != nil {
				b.Error(err)
				return
			}
			if reply.C != 56 {
				b.Errorf("got %d", reply.C)
				return
			}
		}
	})
}
