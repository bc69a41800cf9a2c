package auth_test

import (
	"context"
	"fmt"
	"net"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/plugin/auth"
	"github.com/brisk-rpc/brisk/server"
)

type Greeter struct{}

func (Greeter) Hello(ctx context.Context, name *string, reply *string) error {
	*reply = "hello " + *name
	return nil
}

func (Greeter) Reset(ctx context.Context, _ *string, reply *string) error {
	*reply = "reset"
	return nil
}

func Example() {
	mw := auth.Middleware(
		auth.Rule{Service: "Greeter", Check: auth.Tokens("user-token", "admin-token")},
		auth.Rule{Service: "Greeter", Method: "Reset", Check: auth.Tokens("admin-token")},
	)
	s := server.NewServer(server.WithMiddleware(mw))
	_ = s.RegisterName("Greeter", Greeter{}, "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = s.ServeListener(ln) }()
	defer s.Close()

	opt := client.DefaultOption
	opt.AuthToken = "user-token"
	c := client.NewClient(opt)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	name, reply := "ann", ""
	err := c.Call(context.Background(), "Greeter.Hello", &name, &reply)
	fmt.Println(reply, err)
	err = c.Call(context.Background(), "Greeter.Reset", &name, &reply)
	fmt.Println(auth.IsUnauthorized(err), err)
	// Output:
	// hello ann <nil>
	// true brisk: unauthorized: invalid token
}
