package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// zeros is an endless stream of zero bytes that counts what was read.
type zeros struct {
	left int64
	read atomic.Int64
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	z.read.Add(int64(n))
	return n, nil
}

// TestHugeBodyBoundedMemory: a 256 MiB body of unknown length is refused with 413 after
// reading at most the limit, and the gateway allocates a small multiple of the limit.
func TestHugeBodyBoundedMemory(t *testing.T) {
	const limit = 1 << 20
	var invoked atomic.Bool
	h := gateway.New(invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
		invoked.Store(true)
		return nil, errBoom
	}), gateway.WithMaxBodySize(limit))
	for _, jsonrpc := range []bool{false, true} {
		body := &zeros{left: 256 << 20}
		r := httptest.NewRequest(http.MethodPost, "/Arith", io.NopCloser(body))
		r.ContentLength = -1
		r.Header.Set(gateway.HeaderServiceMethod, "Mul")
		r.Header.Set(gateway.HeaderSerializeType, "1")
		if jsonrpc {
			r.Header.Set(gateway.HeaderJSONRPC, "true")
		}
		rec := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.ServeHTTP(rec, r)
		runtime.ReadMemStats(&after)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("jsonrpc=%v: status %d, want 413", jsonrpc, rec.Code)
		}
		if n := body.read.Load(); n > limit+1 {
			t.Errorf("jsonrpc=%v: read %d bytes of the body, limit %d", jsonrpc, n, limit)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("jsonrpc=%v: allocated %d", jsonrpc, alloc)
		if alloc > 3*limit {
			t.Errorf("jsonrpc=%v: allocated %d bytes for a body limited to %d", jsonrpc, alloc, limit)
		}
	}
	if invoked.Load() {
		t.Error("the invoker was called")
	}
}

// TestGzipBomb: a small gzip body that inflates past the limit is refused with 413.
func TestGzipBomb(t *testing.T) {
	const limit = 1 << 20
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
	_, _ = io.Copy(zw, &zeros{left: 8 << 20})
	_ = zw.Close()
	hs := serveGateway(t, invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
		return nil, errBoom
	}), gateway.WithMaxBodySize(limit))
	resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Content-Encoding", "gzip"), body: zb.Bytes()})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d (%s), want 413", resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
	}
}

// TestDeclaredTooLarge: a Content-Length over the limit is refused before the body is read.
func TestDeclaredTooLarge(t *testing.T) {
	hs := serveGateway(t, nil, gateway.WithMaxBodySize(1024))
	body := &zeros{left: 8 << 20}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/Arith", body)
	req.ContentLength = 8 << 20
	req.Header.Set(gateway.HeaderServiceMethod, "Mul")
	req.Header.Set(gateway.HeaderSerializeType, "1")
	resp, err := hs.Client().Do(req)
	if err != nil {
		// The server may close the connection while the client still writes; what
		// matters is that it did not read the body.
		t.Logf("client: %v", err)
	} else {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	}
	if n := body.read.Load(); n >= 8<<20 {
		t.Errorf("the whole body (%d bytes) was sent", n)
	}
}

// TestKeepAliveMixesProtocols: one HTTP client on one kept-alive connection to a brisk
// server's native tcp port alternates JSON-RPC and HTTP invoke calls; each is routed on
// its own.
func TestKeepAliveMixesProtocols(t *testing.T) {
	var s *server.Server
	inv := invokerFunc(func(ctx context.Context, req *protocol.Message) (*protocol.Message, error) { return s.Invoke(ctx, req) })
	s = server.NewServer(server.WithHTTPHandler(gateway.New(inv)))
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testsvc.Bound}

	var conns, reused int
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conns++
		if info.Reused {
			reused++
		}
	}}
	for i := range 10 {
		var req *http.Request
		jsonrpc := i%2 == 0
		if jsonrpc {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":%d,"B":2},"id":%d}`, i, i)
			req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
			req.Header.Set(gateway.HeaderJSONRPC, "true")
		} else {
			req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/Arith", strings.NewReader(fmt.Sprintf(`{"A":%d,"B":3}`, i)))
			req.Header.Set(gateway.HeaderServiceMethod, "Mul")
			req.Header.Set(gateway.HeaderSerializeType, "1")
			req.Header.Set(gateway.HeaderMessageID, fmt.Sprint(i))
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d, %v", i, resp.StatusCode, err)
		}
		if jsonrpc {
			var r rpcResp
			if err := json.Unmarshal(body, &r); err != nil || string(r.Result) != fmt.Sprintf(`{"C":%d}`, 2*i) || string(r.ID) != fmt.Sprint(i) {
				t.Errorf("call %d (JSON-RPC): %s", i, body)
			}
		} else if string(body) != fmt.Sprintf(`{"C":%d}`, 3*i) || resp.Header.Get(gateway.HeaderMessageID) != fmt.Sprint(i) {
			t.Errorf("call %d (invoke): %s %v", i, body, resp.Header)
		}
	}
	if conns != 10 || reused != 9 {
		t.Errorf("%d calls reused a connection %d times, want 9 (one connection)", conns, reused)
	}
}

// startXClient starts n Arith servers and returns an XClient over them, closed at cleanup.
func startXClient(t *testing.T, n int, mode client.FailMode, opts ...server.Option) (*client.XClient, []*testsvc.Arith) {
	t.Helper()
	var pairs []discovery.KVPair
	var ariths []*testsvc.Arith
	for range n {
		_, a, addr := testsvc.NewArithServer(t, opts...)
		ariths = append(ariths, a)
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + addr})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		t.Fatal(err)
	}
	xc := client.NewXClient("Arith", mode, client.RoundRobin, d, client.DefaultOption)
	t.Cleanup(func() {
		_ = xc.Close()
		_ = d.Close()
	})
	return xc, ariths
}

// TestXClientGateway: a standalone gateway forwarding through an XClient to real servers.
func TestXClientGateway(t *testing.T) {
	xc, ariths := startXClient(t, 2, client.Failover, server.WithAuthFunc(func(ctx context.Context, req *protocol.Message, token string) error {
		if token == "refuse" {
			return errors.New("refused")
		}
		return nil
	}))
	hs := serveGateway(t, xc, gateway.WithTimeout(testsvc.Bound))

	for i := range 4 { // both servers, by round robin
		resp, body := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.MsgPack), body: mustMsgpack(t, testsvc.Args{A: i, B: 10})})
		if resp.StatusCode != 200 || !bytes.Equal(body, mustMsgpack(t, testsvc.Reply{C: 10 * i})) {
			t.Fatalf("msgpack call %d: %d %q %s", i, resp.StatusCode, body, resp.Header.Get(gateway.HeaderErrorMessage))
		}
	}
	_, body := postRPC(t, hs, `[{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":3,"B":4},"id":1},{"jsonrpc":"2.0","method":"Arith.Notify","params":{"A":9}}]`)
	var rs []rpcResp
	if err := json.Unmarshal(body, &rs); err != nil || len(rs) != 1 || string(rs[0].Result) != `{"C":12}` {
		t.Fatalf("batch: %s (%v)", body, err)
	}
	select {
	case <-ariths[0].Notified:
	case <-ariths[1].Notified:
	case <-time.After(testsvc.Bound):
		t.Fatal("the notification did not arrive")
	}

	tests := []struct {
		name    string
		headers map[string]string
		status  int
		text    string
	}{
		{"other service", arithHeaders("Mul", protocol.JSON, gateway.HeaderServicePath, "Other"), 500, "can't find service Other"},
		{"unknown method", arithHeaders("Nope", protocol.JSON), 500, "can't find method Nope"},
		{"service error", arithHeaders("Div", protocol.JSON), 500, "divide by zero"},
		{"auth refused", arithHeaders("Mul", protocol.JSON, "Authorization", "refuse"), 500, "refused"},
	}
	for _, tc := range tests {
		resp, _ := do(t, hs, invokeReq{headers: tc.headers, body: []byte(`{"A":1}`)})
		if resp.StatusCode != tc.status || !contains(resp.Header.Get(gateway.HeaderErrorMessage), tc.text) {
			t.Errorf("%s: status %d, error %q; want %d, %q", tc.name, resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage), tc.status, tc.text)
		}
	}
	_, body = postRPC(t, hs, `{"jsonrpc":"2.0","method":"Other.Mul","id":1}`)
	if r := decodeSingle(t, body); r.Error == nil || r.Error.Code != gateway.CodeMethodNotFound {
		t.Errorf("other service over JSON-RPC: %s", body)
	}
}

// TestXClientGatewayNoServer: with no server listed, calls answer 503 / CodeUnavailable.
func TestXClientGatewayNoServer(t *testing.T) {
	d, err := discovery.NewMultipleServers(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	xc := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer xc.Close()
	hs := serveGateway(t, xc)
	resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON), body: []byte("{}")})
	if resp.StatusCode != http.StatusServiceUnavailable || !contains(resp.Header.Get(gateway.HeaderErrorMessage), "no server") {
		t.Errorf("status %d, error %q", resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
	}
	_, body := postRPC(t, hs, `{"jsonrpc":"2.0","method":"Arith.Mul","id":1}`)
	if r := decodeSingle(t, body); r.Error == nil || r.Error.Code != gateway.CodeUnavailable {
		t.Errorf("JSON-RPC: %s", body)
	}
}

// TestXClientGatewayTimeout: WithTimeout travels to the server as __ServerTimeout and a
// call that outlives it answers 504.
func TestXClientGatewayTimeout(t *testing.T) {
	xc, ariths := startXClient(t, 1, client.Failfast)
	hs := serveGateway(t, xc, gateway.WithTimeout(50*time.Millisecond))
	resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Deadline", protocol.JSON), body: []byte("{}")})
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d (%s), want 504", resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
	}
	info := testsvc.Recv(t, ariths[0].Deadlines, "the handler")
	if !info.HasDeadline || info.Timeout == "" {
		t.Errorf("the handler saw %+v", info)
	}
	testsvc.Recv(t, ariths[0].CtxErr, "the handler to end")
}
