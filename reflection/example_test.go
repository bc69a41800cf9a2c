package reflection_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/reflection"
	"github.com/brisk-rpc/brisk/server"
)

type Args struct {
	A int `json:"a"`
	B int `json:"b"`
}

type Reply struct {
	C int `json:"c"`
}

type Arith struct{}

func (Arith) Mul(_ context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

func (Arith) Chat(_ context.Context, _ *server.Stream) error { return nil }

func Example() {
	s := server.NewServer()
	if err := s.RegisterName("Arith", Arith{}, "group=a"); err != nil {
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
	l, err := reflection.List(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	for _, svc := range l.Services {
		fmt.Printf("%s (%s)\n", svc.Name, svc.Metadata)
		for _, m := range svc.Methods {
			fmt.Printf("  %s %s\n", m.Name, m.Kind)
		}
	}
	mul, _ := l.Method("Arith", "Mul")
	fmt.Println("args: ", string(mul.Args))
	fmt.Println("reply:", string(mul.Reply))
	// Output:
	// Arith (group=a)
	//   Chat stream
	//   Mul unary
	// args:  {"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"$schema":"https://json-schema.org/draft/2020-12/schema","title":"reflection_test.Args","required":["a","b"],"additionalProperties":false}
	// reply: {"type":"object","properties":{"c":{"type":"integer"}},"$schema":"https://json-schema.org/draft/2020-12/schema","title":"reflection_test.Reply","required":["c"],"additionalProperties":false}
}
