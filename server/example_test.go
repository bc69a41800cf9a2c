package server_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/server"
)

type Args struct{ A, B int }

type Reply struct{ C int }

type Arith struct{}

func (*Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

func ExampleServer() {
	s := server.NewServer()
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ln) }()

	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		log.Fatal(err)
	}
	var reply Reply
	if err := c.Call(context.Background(), "Arith.Mul", &Args{A: 7, B: 8}, &reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println("7 * 8 =", reply.C)

	_ = c.Close()
	_ = s.Shutdown(context.Background())
	fmt.Println(<-served)
	// Output:
	// 7 * 8 = 56
	// brisk: server closed
}
