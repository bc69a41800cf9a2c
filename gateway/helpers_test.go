package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// invokerFunc adapts a function to gateway.Invoker.
type invokerFunc func(ctx context.Context, req *protocol.Message) (*protocol.Message, error)

func (f invokerFunc) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	return f(ctx, req)
}

// newArithServer returns an unserved server with a fresh Arith registered, closed at
// cleanup. Server.Invoke needs no listener.
func newArithServer(t *testing.T, opts ...server.Option) (*server.Server, *testsvc.Arith) {
	t.Helper()
	s := server.NewServer(opts...)
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatalf("register: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, a
}

// serveGateway serves gateway.New(inv, opts...) on an httptest server closed at cleanup.
func serveGateway(t *testing.T, inv gateway.Invoker, opts ...gateway.Option) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(gateway.New(inv, opts...))
	t.Cleanup(hs.Close)
	return hs
}

// invokeReq is one HTTP invoke request.
type invokeReq struct {
	method  string // default POST
	path    string // URL path, default "/"
	headers map[string]string
	body    []byte
}

// arithHeaders returns the headers of an Arith call with the given method and serialize
// type.
func arithHeaders(method string, st protocol.SerializeType, extra ...string) map[string]string {
	h := map[string]string{
		gateway.HeaderServicePath:   "Arith",
		gateway.HeaderServiceMethod: method,
		gateway.HeaderSerializeType: itoa(int(st)),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// do sends r to hs with its own client and returns the response with its body read.
func do(t *testing.T, hs *httptest.Server, r invokeReq) (*http.Response, []byte) {
	t.Helper()
	return doWith(t, hs.Client(), hs.URL, r)
}

func doWith(t *testing.T, c *http.Client, base string, r invokeReq) (*http.Response, []byte) {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	path := r.path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, body
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMsgpack(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rpcResp is a decoded JSON-RPC response.
type rpcResp struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ID json.RawMessage `json:"id"`
}

// postRPC posts a JSON-RPC body (with the X-JSONRPC-2.0 header) and returns the response.
func postRPC(t *testing.T, hs *httptest.Server, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{gateway.HeaderJSONRPC: "true", "Content-Type": "application/json"}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return do(t, hs, invokeReq{headers: h, body: []byte(body)})
}

// decodeSingle decodes a single JSON-RPC response.
func decodeSingle(t *testing.T, body []byte) rpcResp {
	t.Helper()
	var r rpcResp
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decoding response %s: %v", body, err)
	}
	checkEnvelope(t, r, body)
	return r
}

// checkEnvelope checks the spec's rules for a response object.
func checkEnvelope(t *testing.T, r rpcResp, body []byte) {
	t.Helper()
	if r.JSONRPC != "2.0" {
		t.Errorf("jsonrpc = %q in %s", r.JSONRPC, body)
	}
	if (r.Error == nil) == (r.Result == nil) {
		t.Errorf("exactly one of result and error must be present: %s", body)
	}
	if r.ID == nil {
		t.Errorf("id missing: %s", body)
	}
}

var errBoom = errors.New("boom")

func contains(s, sub string) bool { return strings.Contains(s, sub) }
