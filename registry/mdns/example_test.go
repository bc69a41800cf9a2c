package mdns_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/mdns"
	"github.com/brisk-rpc/brisk/server"
)

// A server announces its services on the local network and a client discovers and calls
// it; no registry server is involved.
func Example() {
	lo, err := net.InterfaceByName("lo") // or the LAN interface, or no WithInterfaces: all
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := []mdns.Option{
		mdns.WithInterfaces(*lo),
		mdns.WithRegistryOptions(registry.WithTTL(30 * time.Second)),
	}

	r, err := mdns.NewRegistrar("tcp@127.0.0.1:8972", opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := server.NewServer(server.WithRegistrar(r))
	if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=10"); err != nil {
		fmt.Println(err)
	}
	go s.Serve("tcp", "127.0.0.1:8972")
	defer s.Shutdown(context.Background()) // withdraws the announcement

	d, err := mdns.NewDiscovery("Arith", opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()

	// The list fills as answers arrive (within milliseconds on a LAN).
	servers, stop := d.Watch()
	defer stop()
	for found := false; !found; {
		select {
		case list := <-servers:
			found = len(list) > 0
		case <-time.After(5 * time.Second):
			fmt.Println("no Arith server found:", d.Err())
			return
		}
	}

	var reply testsvc.Reply
	err = x.Call(context.Background(), "Mul", &testsvc.Args{A: 6, B: 7}, &reply)
	fmt.Println(reply.C, err)
}
