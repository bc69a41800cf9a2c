package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/server"
)

// Chat has a stream method: it answers each line it receives, until the client closes its
// side.
type Chat struct{}

func (Chat) Shout(ctx context.Context, st *server.Stream) error {
	for {
		var line string
		if err := st.Recv(&line); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := st.Send(strings.ToUpper(line) + "!"); err != nil {
			return err
		}
	}
}

func ExampleClient_NewStream() {
	s := server.NewServer()
	if err := s.RegisterName("Chat", Chat{}, ""); err != nil {
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
	st, err := c.NewStream(ctx, "Chat.Shout")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for _, line := range []string{"hello", "stream"} {
		if err := st.Send(line); err != nil {
			log.Fatal(err)
		}
		var answer string
		if err := st.Recv(&answer); err != nil {
			log.Fatal(err)
		}
		fmt.Println(answer)
	}
	if err := st.CloseSend(); err != nil {
		log.Fatal(err)
	}
	var answer string
	fmt.Println("end:", st.Recv(&answer))
	// Output:
	// HELLO!
	// STREAM!
	// end: EOF
}
