package etcd_test

import (
	"context"
	"fmt"
	"log"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/server"
)

// Args, Reply and Arith are the example's service.
type (
	Args  struct{ A, B int }
	Reply struct{ C int }
	Arith struct{}
)

// Mul sets C = A * B.
func (Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// A server advertises itself in etcd and a client finds it there. The application owns
// the etcd client (endpoints, TLS, credentials, logger) and closes it last.
func Example() {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:2379"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	// Server side: every service registered is advertised, under a lease of 30 s kept
	// alive every 10 s, until Shutdown.
	reg, err := etcd.NewRegistrar(cli, "tcp@127.0.0.1:8972",
		registry.WithBasePath("/rpcx_test"), registry.WithTTL(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	if err := s.RegisterName("Arith", new(Arith), "weight=10"); err != nil {
		log.Print(err) // served, but not advertised yet: the registrar keeps retrying
	}
	go s.Serve("tcp", "127.0.0.1:8972")
	defer s.Shutdown(context.Background())

	// Client side: the list follows the registry.
	d, err := etcd.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()

	var reply Reply
	if err := x.Call(context.Background(), "Mul", &Args{A: 6, B: 7}, &reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.C)
}
