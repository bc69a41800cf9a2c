package zookeeper_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
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

// A server advertises itself in ZooKeeper and a client finds it there. The application
// owns the ZooKeeper connection: it chooses the session timeout (how long a crashed
// server's entries outlive it) and go-zookeeper's logger, and closes it last.
func Example() {
	conn, _, err := zk.Connect([]string{"127.0.0.1:2181"}, 10*time.Second,
		zk.WithLogger(slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Server side: every service registered is advertised until Shutdown.
	reg, err := zookeeper.NewRegistrar(conn, "tcp@127.0.0.1:8972", registry.WithBasePath("/rpcx_test"))
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
	d, err := zookeeper.NewDiscovery(conn, "Arith", registry.WithBasePath("/rpcx_test"))
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
