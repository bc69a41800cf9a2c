package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/server"
	"github.com/brisk-rpc/brisk/transfer"
)

func Example() {
	// The server: files under a directory, served as "Files".
	dir, err := os.MkdirTemp("", "files")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	svc, err := transfer.NewService(dir, transfer.WithMaxSize(1<<20))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()
	s := server.NewServer()
	if err := s.RegisterName("Files", svc, ""); err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ln) }()
	defer func() { _ = s.Close(); <-served }()

	// The client.
	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	data := []byte("hello, brisk")
	res, err := transfer.Upload(ctx, c, "Files", "greetings/hello.txt", bytes.NewReader(data), int64(len(data)),
		transfer.Progress(func(done, total int64) { fmt.Printf("sent %d of %d\n", done, total) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("uploaded", res.Size, "bytes")

	var out bytes.Buffer
	res, err = transfer.Download(ctx, c, "Files", "greetings/hello.txt", &out)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("downloaded %q, verified %v\n", out.String(), res.Verified)

	_, err = transfer.Download(ctx, c, "Files", "../etc/passwd", &out)
	fmt.Println("bad name:", errors.Is(err, transfer.ErrBadName))
	_, err = transfer.Stat(ctx, c, "Files", "missing.txt")
	fmt.Println("not found:", errors.Is(err, transfer.ErrNotFound))
	// Output:
	// sent 0 of 12
	// sent 12 of 12
	// uploaded 12 bytes
	// downloaded "hello, brisk", verified true
	// bad name: true
	// not found: true
}
