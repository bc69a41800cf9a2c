package consul_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/consul"
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

// A server advertises itself in Consul and a client finds it there. The application owns
// the Consul client: it chooses the agent's address (CONSUL_HTTP_ADDR, by default
// 127.0.0.1:8500), the ACL token and TLS, and closes its idle connections last.
func Example() {
	cfg := api.DefaultConfig()
	cli, err := api.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer cfg.Transport.CloseIdleConnections()

	// Server side: every service registered is advertised until Shutdown. A crashed
	// server's entries vanish once its session's TTL (10s at least) has passed twice.
	// consul.NewCatalogRegistrar would also register it in Consul's service catalog.
	reg, err := consul.NewRegistrar(cli, "tcp@127.0.0.1:8972", registry.WithBasePath("/rpcx_test"))
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
	d, err := consul.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
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
