package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/server"
)

type Args struct{ A, B int }
type Reply struct{ C int }

type Arith struct{}

func (*Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

func post(url string, header map[string]string, body string) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
}

// A gateway over a server's own services: an HTTP invoke call and a JSON-RPC call.
func ExampleNew() {
	s := server.NewServer()
	defer s.Close()
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(gateway.New(s))
	defer hs.Close()

	// HTTP invoke: the call in X-RPCX headers, the JSON payload (serialize type 1) in the body.
	post(hs.URL+"/Arith", map[string]string{
		"X-RPCX-ServiceMethod": "Mul",
		"X-RPCX-SerializeType": "1",
	}, `{"A":7,"B":8}`)

	// JSON-RPC 2.0.
	post(hs.URL, map[string]string{"X-JSONRPC-2.0": "true", "Content-Type": "application/json"},
		`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":6,"B":7},"id":1}`)
	// Output:
	// 200 {"C":56}
	// 200 {"jsonrpc":"2.0","result":{"C":42},"id":1}
}

// A standalone gateway: HTTP in front of the servers an XClient finds through discovery.
func ExampleNew_xclient() {
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

	d, err := discovery.NewPeer2Peer("tcp@"+ln.Addr().String(), "")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	xclient := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer xclient.Close()

	// In a real program: http.ListenAndServe(":8080", gateway.New(xclient))
	hs := httptest.NewServer(gateway.New(xclient, gateway.WithCORS(gateway.CORS{AllowedOrigins: []string{"*"}})))
	defer hs.Close()
	post(hs.URL, map[string]string{"Content-Type": "application/json"},
		`[{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":"a"},{"jsonrpc":"2.0","method":"Arith.Nope","id":"b"}]`)
	// Output:
	// 200 [{"jsonrpc":"2.0","result":{"C":6},"id":"a"},{"jsonrpc":"2.0","error":{"code":-32601,"message":"brisk: can't find method Nope of service Arith"},"id":"b"}]
}
