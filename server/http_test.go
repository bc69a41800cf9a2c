package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// One tcp port serves native frames, HTTP CONNECT and WebSocket at /_rpcx_, and plain HTTP.
func TestOnePortServesEveryProtocol(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	_, _, addr := testsvc.NewArithServer(t, server.WithHTTPHandler(hello))
	for _, network := range []string{"tcp", "http", "ws"} {
		t.Run(network, func(t *testing.T) {
			c := client.NewClient(client.DefaultOption)
			if err := c.Connect(network, addr); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var reply testsvc.Reply
			if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &reply); err != nil || reply.C != 42 {
				t.Fatalf("call over %s: %v, %d", network, err, reply.C)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "hello" {
			t.Fatalf("body %q", body)
		}
	})
}

// The CONNECT answer is rpcx's, byte for byte, and frames follow on the same connection.
func TestConnectAnswerIsRPCX(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	nc := testsvc.Dial(t, addr)
	if _, err := io.WriteString(nc, "CONNECT /_rpcx_ HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.0 200 Connected to rpcx\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != want {
		t.Fatalf("answer %q, %v", got, err)
	}
	c := client.NewClient(client.DefaultOption)
	if err := c.ConnectConn(nc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var reply testsvc.Reply
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &reply); err != nil || reply.C != 6 {
		t.Fatalf("call after CONNECT: %v, %d", err, reply.C)
	}
}

// Shutdown ends idle HTTP keep-alive connections and WebSocket sessions promptly.
func TestShutdownWithHTTPConnections(t *testing.T) {
	s, _, addr := testsvc.NewArithServer(t)
	ws := client.NewClient(client.DefaultOption)
	if err := ws.Connect("ws", addr); err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var reply testsvc.Reply
	if err := ws.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &reply); err != nil {
		t.Fatal(err)
	}
	keepAlive := testsvc.Dial(t, addr)
	if _, err := io.WriteString(keepAlive, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(keepAlive), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > testsvc.Bound/2 {
		t.Fatalf("Shutdown took %v", d)
	}
	if err := ws.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &reply); err == nil {
		t.Fatal("a call over WebSocket succeeded after Shutdown")
	}
}

// By default the HTTP side of a port is the gateway over the server's own services.
func TestDefaultHTTPIsTheGateway(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	tests := []struct {
		name    string
		header  map[string]string
		body    string
		want    string
		wantHdr string
	}{
		{"HTTP invoke", map[string]string{"X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Mul",
			"X-RPCX-SerializeType": "1", "X-RPCX-MessageID": "7"}, `{"A":6,"B":7}`, `{"C":42}`, "7"},
		{"JSON-RPC", map[string]string{"X-JSONRPC-2.0": "true", "Content-Type": "application/json"},
			`{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{"A":6,"B":7}}`,
			`{"jsonrpc":"2.0","result":{"C":42},"id":1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != tt.want {
				t.Fatalf("status %d, body %s, headers %v; want 200, %s", resp.StatusCode, body, resp.Header, tt.want)
			}
			if got := resp.Header.Get("X-RPCX-MessageID"); got != tt.wantHdr {
				t.Errorf("X-RPCX-MessageID %q, want %q", got, tt.wantHdr)
			}
		})
	}
}

// Invoke on a closed server is refused as unavailable (the gateway's 503).
func TestInvokeAfterCloseIsUnavailable(t *testing.T) {
	s := server.NewServer()
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	req := protocol.NewMessage()
	req.ServicePath, req.ServiceMethod = "Arith", "Mul"
	req.SetSerializeType(protocol.JSON)
	req.Payload = []byte(`{"A":1,"B":2}`)
	if _, err := s.Invoke(context.Background(), req); !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("Invoke after Close = %v, want gateway.ErrUnavailable", err)
	}
}

// Middleware sees the HTTP caller's address for gateway requests too.
func TestGatewayRequestsCarryRemoteAddr(t *testing.T) {
	seen := make(chan net.Addr, 1)
	record := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			seen <- inv.RemoteAddr
			return next(ctx, inv)
		}
	}
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(record))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/Arith", strings.NewReader(`{"A":2,"B":3}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-RPCX-ServiceMethod", "Mul")
	req.Header.Set("X-RPCX-SerializeType", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := testsvc.Recv(t, seen, "the middleware to run")
	ta, ok := got.(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() || ta.Port == 0 {
		t.Fatalf("RemoteAddr %v (%T), want the HTTP client's loopback address", got, got)
	}
}
