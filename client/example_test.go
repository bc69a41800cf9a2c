package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

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

func (*Arith) Div(ctx context.Context, args *Args, reply *Reply) error {
	if args.B == 0 {
		return fmt.Errorf("divide by zero")
	}
	reply.C = args.A / args.B
	return nil
}

func ExampleClient() {
	s := server.NewServer()
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.ServeListener(ln)
	defer s.Close()

	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var reply Reply
	if err := c.Call(ctx, "Arith.Mul", &Args{A: 7, B: 8}, &reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println("7 * 8 =", reply.C)

	err = c.Call(ctx, "Arith.Div", &Args{A: 1, B: 0}, &reply)
	fmt.Println("service error:", client.IsServiceError(err), err)
	// Output:
	// 7 * 8 = 56
	// service error: true divide by zero
}
