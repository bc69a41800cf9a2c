package redis_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/redis"
	"github.com/brisk-rpc/brisk/server"
)

// Args and Reply are the example service's messages.
type Args struct{ A, B int }

// Reply is Mul's result.
type Reply struct{ C int }

// Arith is the example service.
type Arith struct{}

// Mul sets C = A * B.
func (Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// A server advertises its services in Redis and a client finds them there. The example
// needs a Redis server on 127.0.0.1:6379, so it is compiled but not run.
func Example() {
	cli := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer cli.Close()

	// Server side: every service registered is advertised until Shutdown withdraws it.
	ln, err := net.Listen("tcp", "127.0.0.1:8972")
	if err != nil {
		log.Fatal(err)
	}
	reg, err := redis.NewRegistrar(cli, "tcp@"+ln.Addr().String(),
		registry.WithBasePath("/rpcx_test"), registry.WithTTL(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	if err := s.RegisterName("Arith", new(Arith), "weight=10"); err != nil {
		log.Fatal(err)
	}
	go s.ServeListener(ln)
	defer s.Shutdown(context.Background())

	// Client side: the Discovery follows the servers of Arith.
	d, err := redis.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	servers, stop := d.Watch()
	for list := range servers { // the first list may come before the server registered
		if len(list) > 0 {
			break
		}
	}
	stop()
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	var reply Reply
	if err := x.Call(context.Background(), "Mul", &Args{A: 6, B: 7}, &reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.C)
}
