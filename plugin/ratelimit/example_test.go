package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/plugin/ratelimit"
	"github.com/brisk-rpc/brisk/server"
)

type Greeter struct{}

func (Greeter) Hello(ctx context.Context, name *string, reply *string) error {
	*reply = "hello " + *name
	return nil
}

func Example() {
	rl := ratelimit.New(
		ratelimit.Server(1000, 100),                                    // 1000/s for the server
		ratelimit.Method("Greeter", "Hello", rate.Every(time.Hour), 2), // a burst of 2, then ~nothing
		ratelimit.PerClient(50, 10, 10000),                             // 50/s per client IP, 10000 IPs kept
	)
	s := server.NewServer(server.WithMiddleware(rl.Middleware()))
	_ = s.RegisterName("Greeter", Greeter{}, "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = s.ServeListener(ln) }()
	defer s.Close()

	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for range 3 {
		name, reply := "ann", ""
		err := c.Call(context.Background(), "Greeter.Hello", &name, &reply)
		fmt.Println(reply, err, client.IsRefused(err))
	}
	// Output:
	// hello ann <nil> false
	// hello ann <nil> false
	//  brisk: rate limit exceeded (method Greeter.Hello) true
}
