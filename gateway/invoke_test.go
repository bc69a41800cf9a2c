package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

func TestInvokeSuccess(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s)
	tests := []struct {
		name    string
		st      protocol.SerializeType
		path    string
		headers map[string]string
		body    []byte
		ctype   string
	}{
		{"json", protocol.JSON, "/", arithHeaders("Mul", protocol.JSON, gateway.HeaderMessageID, "42"),
			mustJSON(t, testsvc.Args{A: 7, B: 8}), "application/json"},
		{"msgpack", protocol.MsgPack, "/", arithHeaders("Mul", protocol.MsgPack, gateway.HeaderMessageID, "42"),
			mustMsgpack(t, testsvc.Args{A: 7, B: 8}), "application/msgpack"},
		{"url path names the service", protocol.JSON, "/Arith",
			map[string]string{gateway.HeaderServiceMethod: "Mul", gateway.HeaderSerializeType: "1", gateway.HeaderMessageID: "42"},
			mustJSON(t, testsvc.Args{A: 7, B: 8}), "application/json"},
		{"header wins over url path", protocol.JSON, "/Nope",
			arithHeaders("Mul", protocol.JSON, gateway.HeaderMessageID, "42"),
			mustJSON(t, testsvc.Args{A: 7, B: 8}), "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodGet} {
				resp, body := do(t, hs, invokeReq{method: method, path: tc.path, headers: tc.headers, body: tc.body})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d, error %q", method, resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
				}
				var reply testsvc.Reply
				var err error
				if tc.st == protocol.JSON {
					err = json.Unmarshal(body, &reply)
				} else {
					err = msgpack.Unmarshal(body, &reply)
				}
				if err != nil || reply.C != 56 {
					t.Fatalf("%s: reply %+v (%v) from %q", method, reply, err, body)
				}
				want := map[string]string{
					gateway.HeaderMessageID:     "42",
					gateway.HeaderServicePath:   "Arith",
					gateway.HeaderServiceMethod: "Mul",
					gateway.HeaderSerializeType: itoa(int(tc.st)),
					"Content-Type":              tc.ctype,
				}
				for k, v := range want {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: header %s = %q, want %q", method, k, got, v)
					}
				}
				if got := resp.Header.Get(gateway.HeaderMessageStatusType); got != "" {
					t.Errorf("%s: status type %q on success", method, got)
				}
			}
		})
	}
}

func TestInvokeMetadataAndAuthorization(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s)
	meta := url.Values{"player": {"42"}, "region": {"eu", "us"}}.Encode()
	resp, body := do(t, hs, invokeReq{
		headers: arithHeaders("EchoMetadata", protocol.JSON, gateway.HeaderMeta, meta, "Authorization", "Bearer xyz"),
		body:    []byte("{}"),
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"player": "42", "region": "eu", protocol.AuthKey: "Bearer xyz"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request metadata %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	resMeta, err := url.ParseQuery(resp.Header.Get(gateway.HeaderMeta))
	if err != nil {
		t.Fatal(err)
	}
	if resMeta.Get("echo-player") != "42" || resMeta.Get("echo-region") != "eu" {
		t.Errorf("response metadata %v", resMeta)
	}
}

func TestInvokeOnewayAndHeartbeat(t *testing.T) {
	s, a := newArithServer(t)
	hs := serveGateway(t, s)

	resp, body := do(t, hs, invokeReq{
		headers: arithHeaders("Notify", protocol.JSON, gateway.HeaderOneway, "true"),
		body:    mustJSON(t, testsvc.Args{A: 3, B: 4}),
	})
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("oneway: status %d, body %q", resp.StatusCode, body)
	}
	if got := testsvc.Recv(t, a.Notified, "the oneway call"); got != (testsvc.Args{A: 3, B: 4}) {
		t.Errorf("Notify got %+v", got)
	}

	// "false" is not oneway: the reply comes back.
	resp, body = do(t, hs, invokeReq{
		headers: arithHeaders("Mul", protocol.JSON, gateway.HeaderOneway, "false"),
		body:    mustJSON(t, testsvc.Args{A: 3, B: 4}),
	})
	if resp.StatusCode != http.StatusOK || string(body) != `{"C":12}` {
		t.Fatalf("oneway false: status %d, body %q", resp.StatusCode, body)
	}

	// A heartbeat is echoed by the gateway; it names no service.
	resp, body = do(t, hs, invokeReq{
		headers: map[string]string{gateway.HeaderHeartbeat: "1", gateway.HeaderSerializeType: "3", gateway.HeaderMessageID: "9"},
		body:    []byte("ping"),
	})
	if resp.StatusCode != http.StatusOK || string(body) != "ping" || resp.Header.Get(gateway.HeaderMessageID) != "9" {
		t.Fatalf("heartbeat: status %d, body %q, headers %v", resp.StatusCode, body, resp.Header)
	}
}

func TestInvokeGzipBody(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write(mustJSON(t, testsvc.Args{A: 6, B: 7}))
	_ = zw.Close()
	resp, body := do(t, hs, invokeReq{
		headers: arithHeaders("Mul", protocol.JSON, "Content-Encoding", "gzip"),
		body:    zb.Bytes(),
	})
	if resp.StatusCode != http.StatusOK || string(body) != `{"C":42}` {
		t.Fatalf("status %d, body %q, error %q", resp.StatusCode, body, resp.Header.Get(gateway.HeaderErrorMessage))
	}
}

// TestInvokeErrors covers every error answer of HTTP invoke over a real server: the
// status, X-RPCX-MessageStatusType, the error text, and the echoed identity headers.
func TestInvokeErrors(t *testing.T) {
	s, _ := newArithServer(t, server.WithAuthFunc(func(ctx context.Context, req *protocol.Message, token string) error {
		if token != "" && token != "secret" {
			return fmt.Errorf("bad token %q", token)
		}
		return nil
	}))
	hs := serveGateway(t, s, gateway.WithMaxBodySize(1024))
	args := mustJSON(t, testsvc.Args{A: 1, B: 2})
	tests := []struct {
		name     string
		req      invokeReq
		status   int
		contains string
	}{
		{"missing method", invokeReq{headers: map[string]string{gateway.HeaderServicePath: "Arith", gateway.HeaderSerializeType: "1"}, body: args},
			400, "missing X-RPCX-ServiceMethod"},
		{"missing serialize type", invokeReq{headers: map[string]string{gateway.HeaderServicePath: "Arith", gateway.HeaderServiceMethod: "Mul"}, body: args},
			400, "missing X-RPCX-SerializeType"},
		{"serialize type not decimal", invokeReq{headers: arithHeaders("Mul", 0, gateway.HeaderSerializeType, "json"), body: args},
			400, "not a serialize type"},
		{"serialize type out of range", invokeReq{headers: arithHeaders("Mul", 0, gateway.HeaderSerializeType, "16"), body: args},
			400, "not a serialize type"},
		{"negative serialize type", invokeReq{headers: arithHeaders("Mul", 0, gateway.HeaderSerializeType, "-1"), body: args},
			400, "not a serialize type"},
		{"bad message id", invokeReq{headers: arithHeaders("Mul", protocol.JSON, gateway.HeaderMessageID, "x1"), body: args},
			400, "not a decimal uint64"},
		{"missing service path", invokeReq{headers: map[string]string{gateway.HeaderServiceMethod: "Mul", gateway.HeaderSerializeType: "1"}, body: args},
			400, "missing X-RPCX-ServicePath"},
		{"bad meta", invokeReq{headers: arithHeaders("Mul", protocol.JSON, gateway.HeaderMeta, "a=%zz"), body: args},
			400, "bad X-RPCX-Meta"},
		{"bad gzip", invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Content-Encoding", "gzip"), body: []byte("not gzip")},
			400, "bad gzip body"},
		{"unknown content encoding", invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Content-Encoding", "br"), body: args},
			415, "unsupported Content-Encoding"},
		{"method DELETE", invokeReq{method: http.MethodDelete, headers: arithHeaders("Mul", protocol.JSON), body: args},
			405, "not allowed"},
		{"method PATCH", invokeReq{method: http.MethodPatch, headers: arithHeaders("Mul", protocol.JSON), body: args},
			405, "not allowed"},
		{"body too large", invokeReq{headers: arithHeaders("Mul", protocol.JSON), body: bytes.Repeat([]byte(" "), 1025)},
			413, "larger than 1024 bytes"},
		{"auth refused", invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Authorization", "wrong"), body: args},
			401, `bad token "wrong"`},
		{"unknown service", invokeReq{headers: arithHeaders("Mul", protocol.JSON, gateway.HeaderServicePath, "Nope"), body: args},
			500, "can't find service Nope"},
		{"unknown method", invokeReq{headers: arithHeaders("Nope", protocol.JSON), body: args},
			500, "can't find method Nope"},
		{"service error", invokeReq{headers: arithHeaders("Div", protocol.JSON), body: mustJSON(t, testsvc.Args{A: 1})},
			500, "divide by zero"},
		{"bad arguments", invokeReq{headers: arithHeaders("Mul", protocol.JSON), body: []byte(`{"A":"x"}`)},
			500, "bad arguments"},
		{"unknown serialize type", invokeReq{headers: arithHeaders("Mul", 9), body: args},
			500, ""},
		{"handler panic", invokeReq{headers: arithHeaders("Panic", protocol.JSON), body: args},
			500, "boom: 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := do(t, hs, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (error %q)", resp.StatusCode, tc.status, resp.Header.Get(gateway.HeaderErrorMessage))
			}
			if got := resp.Header.Get(gateway.HeaderMessageStatusType); got != "Error" {
				t.Errorf("X-RPCX-MessageStatusType = %q", got)
			}
			msg := resp.Header.Get(gateway.HeaderErrorMessage)
			if msg == "" || !contains(msg, tc.contains) {
				t.Errorf("X-RPCX-ErrorMessage = %q, want it to contain %q", msg, tc.contains)
			}
			for _, k := range []string{gateway.HeaderServiceMethod, gateway.HeaderSerializeType, gateway.HeaderMessageID} {
				if v := tc.req.headers[k]; v != "" && resp.Header.Get(k) != v {
					t.Errorf("%s = %q, want it echoed (%q)", k, resp.Header.Get(k), v)
				}
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

// TestInvokerErrorStatus maps what an Invoker reports to 401, 502, 503 and 504.
func TestInvokerErrorStatus(t *testing.T) {
	tests := []struct {
		name   string
		inv    gateway.Invoker
		status int
		code   int
	}{
		{"unauthorized", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, fmt.Errorf("%w: no", gateway.ErrUnauthorized)
		}), 401, gateway.CodeUnauthorized},
		{"unavailable", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, fmt.Errorf("no server: %w", gateway.ErrUnavailable)
		}), 503, gateway.CodeUnavailable},
		{"shutting down", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, fmt.Errorf("brisk: server is shutting down")
		}), 503, gateway.CodeUnavailable},
		{"shutting down response", invokerFunc(func(_ context.Context, req *protocol.Message) (*protocol.Message, error) {
			resp := req.Clone()
			resp.SetMessageType(protocol.Response)
			resp.SetMessageStatusType(protocol.Error)
			resp.Metadata = map[string]string{protocol.ServiceError: "brisk: server is shutting down"}
			return resp, nil
		}), 503, gateway.CodeUnavailable},
		{"nil invoker", nil, 503, gateway.CodeUnavailable},
		{"timeout", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, fmt.Errorf("call: %w", context.DeadlineExceeded)
		}), 504, gateway.CodeTimeout},
		{"transport", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, errBoom
		}), 502, gateway.CodeInternalError},
		{"neither response nor error", invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
			return nil, nil
		}), 502, gateway.CodeInternalError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := serveGateway(t, tc.inv)
			resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON), body: []byte("{}")})
			if resp.StatusCode != tc.status || resp.Header.Get(gateway.HeaderMessageStatusType) != "Error" || resp.Header.Get(gateway.HeaderErrorMessage) == "" {
				t.Errorf("HTTP invoke: status %d, headers %v; want %d", resp.StatusCode, resp.Header, tc.status)
			}
			resp, body := postRPC(t, hs, `{"jsonrpc":"2.0","method":"Arith.Mul","params":{},"id":1}`)
			r := decodeSingle(t, body)
			if resp.StatusCode != http.StatusOK || r.Error == nil || r.Error.Code != tc.code || string(r.ID) != "1" {
				t.Errorf("JSON-RPC: status %d, body %s; want code %d", resp.StatusCode, body, tc.code)
			}
		})
	}
}

// TestInvokeTimeout: WithTimeout gives the handler a deadline, and a call that ends by it
// answers 504, even though the handler reported the timeout as its own error.
func TestInvokeTimeout(t *testing.T) {
	s, a := newArithServer(t)
	hs := serveGateway(t, s, gateway.WithTimeout(20_000_000)) // 20ms
	resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Deadline", protocol.JSON), body: []byte("{}")})
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d (%s), want 504", resp.StatusCode, resp.Header.Get(gateway.HeaderErrorMessage))
	}
	if info := testsvc.Recv(t, a.Deadlines, "the handler"); !info.HasDeadline {
		t.Error("the handler's context had no deadline")
	}
	testsvc.Recv(t, a.CtxErr, "the handler to end")

	_, body := postRPC(t, hs, `{"jsonrpc":"2.0","method":"Arith.Deadline","id":"t"}`)
	if r := decodeSingle(t, body); r.Error == nil || r.Error.Code != gateway.CodeTimeout {
		t.Errorf("JSON-RPC: %s", body)
	}
	testsvc.Recv(t, a.CtxErr, "the handler to end")
}

// TestInvokeErrorHeaderSanitised: an error text with newlines and a huge length becomes a
// valid, bounded header value.
func TestInvokeErrorHeaderSanitised(t *testing.T) {
	long := "line1\nline2\r\x00" + string(bytes.Repeat([]byte("é"), 5000))
	hs := serveGateway(t, invokerFunc(func(context.Context, *protocol.Message) (*protocol.Message, error) {
		return nil, fmt.Errorf("%s", long)
	}))
	resp, _ := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON), body: []byte("{}")})
	msg := resp.Header.Get(gateway.HeaderErrorMessage)
	if resp.StatusCode != http.StatusBadGateway || len(msg) > 4096 || !contains(msg, "line1 line2") {
		t.Errorf("status %d, message (%d bytes) %.40q", resp.StatusCode, len(msg), msg)
	}
	if !utf8.ValidString(msg) { // cut on a rune boundary
		t.Error("message is not valid UTF-8")
	}
}
