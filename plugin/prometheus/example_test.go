package prometheus_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/gateway"
	briskprom "github.com/brisk-rpc/brisk/plugin/prometheus"
	"github.com/brisk-rpc/brisk/server"
)

type Args struct{ A, B int }
type Reply struct{ C int }

type Arith struct{}

func (*Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// printSeries prints the lines of a scrape of url that start with one of the prefixes.
func printSeries(hc *http.Client, url string, prefixes ...string) {
	resp, err := hc.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				fmt.Println(sc.Text())
			}
		}
	}
}

// serveExample serves s on a loopback port and returns its address.
func serveExample(s *server.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.ServeListener(ln)
	return ln.Addr().String()
}

// Metrics on an admin port of their own; the client side counted by the same Metrics.
func Example_adminPort() {
	m, err := briskprom.New()
	if err != nil {
		log.Fatal(err)
	}
	s := server.NewServer(
		server.WithMiddleware(m.ServerMiddleware()), // first: outermost
		server.WithConnHooks(m.ConnHooks()),
	)
	defer s.Close()
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		log.Fatal(err)
	}
	addr := serveExample(s)

	admin := &http.Server{Handler: m.Handler()}
	aln, err := net.Listen("tcp", "127.0.0.1:0") // ":9100" in production
	if err != nil {
		log.Fatal(err)
	}
	go admin.Serve(aln)
	defer admin.Close()

	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{m.ClientMiddleware()}
	c := client.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if err := c.Call(context.Background(), "Arith.Mul", &Args{A: 6, B: 7}, new(Reply)); err != nil {
			log.Fatal(err)
		}
	}
	_ = c.Call(context.Background(), "Arith.Nope", &Args{}, new(Reply))

	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	printSeries(hc, "http://"+aln.Addr().String()+"/metrics",
		"brisk_server_requests_total{", "brisk_client_requests_total{", "brisk_server_connections_active ")
	// Output:
	// brisk_client_requests_total{method="Mul",outcome="ok",service="Arith"} 3
	// brisk_client_requests_total{method="Nope",outcome="not_found",service="Arith"} 1
	// brisk_server_connections_active 1
	// brisk_server_requests_total{method="Mul",outcome="ok",service="Arith"} 3
	// brisk_server_requests_total{method="unknown",outcome="not_found",service="Arith"} 1
}

// Metrics at /metrics on the server's own port, next to the HTTP gateway. The gateway
// needs the server, and the server takes its HTTP handler when it is made: give it a mux
// and add the gateway to the mux once the server exists, before it serves.
func Example_serverPort() {
	m, err := briskprom.New(briskprom.WithMethods("Arith", "Mul"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	s := server.NewServer(
		server.WithMiddleware(m.ServerMiddleware()),
		server.WithConnHooks(m.ConnHooks()),
		server.WithHTTPHandler(mux),
	)
	defer s.Close()
	mux.Handle("/", gateway.New(s)) // everything else: HTTP invoke and JSON-RPC
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		log.Fatal(err)
	}
	addr := serveExample(s)

	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	// A JSON-RPC call through the gateway on the same port is counted too.
	resp, err := hc.Post("http://"+addr+"/", "application/json",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{"A":6,"B":7}}`))
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))

	printSeries(hc, "http://"+addr+"/metrics", "brisk_server_requests_total{", "brisk_server_connections_total ")
	// Output:
	// 200 {"jsonrpc":"2.0","result":{"C":42},"id":1}
	// brisk_server_connections_total 1
	// brisk_server_requests_total{method="Mul",outcome="ok",service="Arith"} 1
}
