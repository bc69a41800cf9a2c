package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// TestJSONRPCSingle covers single requests against a real server: results, the spec's
// error codes, ids of every kind, and params in every shape.
func TestJSONRPCSingle(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s)
	tests := []struct {
		name   string
		body   string
		result string // compact JSON, or ""
		code   int    // error code, or 0
		msg    string // part of the error message
		id     string
	}{
		{"by name", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":7,"B":8},"id":1}`, `{"C":56}`, 0, "", "1"},
		{"string id", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":"abc"}`, `{"C":6}`, 0, "", `"abc"`},
		{"null id", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":null}`, `{"C":6}`, 0, "", "null"},
		{"fractional id", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":-1.5}`, `{"C":6}`, 0, "", "-1.5"},
		{"whitespace", " \n\t{ \"jsonrpc\" : \"2.0\", \"method\":\"Arith.Mul\",\"params\": { \"A\":1, \"B\":5 } ,\"id\":7 }\n", `{"C":5}`, 0, "", "7"},
		{"one object in an array", `{"jsonrpc":"2.0","method":"Arith.Mul","params":[{"A":3,"B":3}],"id":2}`, `{"C":9}`, 0, "", "2"},
		{"missing params", `{"jsonrpc":"2.0","method":"Arith.Mul","id":3}`, `{"C":0}`, 0, "", "3"},
		{"null params", `{"jsonrpc":"2.0","method":"Arith.Mul","params":null,"id":3}`, `{"C":0}`, 0, "", "3"},
		{"empty array params", `{"jsonrpc":"2.0","method":"Arith.Mul","params":[],"id":3}`, `{"C":0}`, 0, "", "3"},
		{"missing params, value argument", `{"jsonrpc":"2.0","method":"Arith.Div","id":3}`, "", gateway.CodeInternalError, "divide by zero", "3"},
		{"positional params", `{"jsonrpc":"2.0","method":"Arith.Mul","params":[7,8],"id":4}`, "", gateway.CodeInvalidParams, "positional", "4"},
		{"two objects", `{"jsonrpc":"2.0","method":"Arith.Mul","params":[{},{}],"id":4}`, "", gateway.CodeInvalidParams, "positional", "4"},
		{"bad arguments", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":"x"},"id":5}`, "", gateway.CodeInvalidParams, "bad arguments", "5"},
		{"service error", `{"jsonrpc":"2.0","method":"Arith.Div","params":{"A":1,"B":0},"id":6}`, "", gateway.CodeInternalError, "divide by zero", "6"},
		{"handler panic", `{"jsonrpc":"2.0","method":"Arith.Panic","params":{"A":3},"id":6}`, "", gateway.CodeInternalError, "boom: 3", "6"},
		{"unknown method", `{"jsonrpc":"2.0","method":"Arith.Nope","id":8}`, "", gateway.CodeMethodNotFound, "can't find method Nope", "8"},
		{"unknown service", `{"jsonrpc":"2.0","method":"Nope.Mul","id":9}`, "", gateway.CodeMethodNotFound, "can't find service Nope", "9"},
		{"method without a dot", `{"jsonrpc":"2.0","method":"Mul","id":10}`, "", gateway.CodeMethodNotFound, "Service.Method", "10"},
		{"method ending in a dot", `{"jsonrpc":"2.0","method":"Arith.","id":10}`, "", gateway.CodeMethodNotFound, "Service.Method", "10"},
		{"method starting with a dot", `{"jsonrpc":"2.0","method":".Mul","id":10}`, "", gateway.CodeMethodNotFound, "Service.Method", "10"},
		{"rpc. method", `{"jsonrpc":"2.0","method":"rpc.discover","id":10}`, "", gateway.CodeMethodNotFound, "reserved", "10"},
		{"dotted service", `{"jsonrpc":"2.0","method":"a.b.Mul","id":11}`, "", gateway.CodeMethodNotFound, "can't find service a.b", "11"},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","method":"Arith.Mul","params":{},"id":12}`, "", gateway.CodeInvalidRequest, `"2.0"`, "12"},
		{"jsonrpc number", `{"jsonrpc":2.0,"method":"Arith.Mul","params":{},"id":12}`, "", gateway.CodeInvalidRequest, `"2.0"`, "12"},
		{"jsonrpc missing", `{"method":"Arith.Mul","params":{},"id":12}`, "", gateway.CodeInvalidRequest, `"2.0"`, "12"},
		{"method not a string", `{"jsonrpc":"2.0","method":1,"id":13}`, "", gateway.CodeInvalidRequest, "method", "13"},
		{"method missing", `{"jsonrpc":"2.0","id":13}`, "", gateway.CodeInvalidRequest, "method", "13"},
		{"params a string", `{"jsonrpc":"2.0","method":"Arith.Mul","params":"x","id":14}`, "", gateway.CodeInvalidRequest, "params", "14"},
		{"id an object", `{"jsonrpc":"2.0","method":"Arith.Mul","id":{"a":1}}`, "", gateway.CodeInvalidRequest, "id", "null"},
		{"id a bool", `{"jsonrpc":"2.0","method":"Arith.Mul","id":true}`, "", gateway.CodeInvalidRequest, "id", "null"},
		{"not an object", `42`, "", gateway.CodeInvalidRequest, "not an object", "null"},
		{"a string", `"x"`, "", gateway.CodeInvalidRequest, "not an object", "null"},
		{"parse error", `{"jsonrpc":"2.0","method":"Arith.Mul",`, "", gateway.CodeParseError, "parse error", "null"},
		{"empty body", ``, "", gateway.CodeParseError, "parse error", "null"},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"Arith.Mul","id":1} x`, "", gateway.CodeParseError, "parse error", "null"},
		{"empty batch", `[]`, "", gateway.CodeInvalidRequest, "empty batch", "null"},
		{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "", gateway.CodeParseError, "parse error", "null"},
		{"deep params", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `},"id":1}`,
			"", gateway.CodeInvalidParams, "bad arguments", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postRPC(t, hs, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			r := decodeSingle(t, body)
			if string(r.ID) != tc.id {
				t.Errorf("id %s, want %s (%s)", r.ID, tc.id, body)
			}
			if tc.code == 0 {
				if r.Error != nil || string(r.Result) != tc.result {
					t.Errorf("got %s, want result %s", body, tc.result)
				}
				return
			}
			if r.Error == nil || r.Error.Code != tc.code || !contains(r.Error.Message, tc.msg) {
				t.Errorf("got %s, want code %d with %q", body, tc.code, tc.msg)
			}
		})
	}
}

// TestJSONRPCBatch: a batch mixing calls, notifications, invalid entries and errors gets
// one answer per non-notification, matched by id.
func TestJSONRPCBatch(t *testing.T) {
	s, a := newArithServer(t)
	hs := serveGateway(t, s, gateway.WithMaxBatch(20))
	body := `[
		{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":1},
		{"jsonrpc":"2.0","method":"Arith.Notify","params":{"A":5,"B":6}},
		{"jsonrpc":"2.0","method":"Arith.Div","params":{"A":1,"B":0},"id":"div"},
		{"foo":"boo"},
		1,
		{"jsonrpc":"2.0","method":"Arith.Nope","params":{},"id":4},
		{"jsonrpc":"2.0","method":"Arith.Nope"},
		{"jsonrpc":"2.0","method":"Arith.Mul","params":[1,2]},
		{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":4,"B":4},"id":5}
	]`
	resp, out := postRPC(t, hs, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	var rs []rpcResp
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(rs) != 6 {
		t.Fatalf("%d answers, want 6: %s", len(rs), out)
	}
	byID := map[string]rpcResp{}
	nulls := 0
	for _, r := range rs {
		checkEnvelope(t, r, out)
		if string(r.ID) == "null" {
			nulls++
			if r.Error == nil || r.Error.Code != gateway.CodeInvalidRequest {
				t.Errorf("null-id answer %+v", r)
			}
			continue
		}
		byID[string(r.ID)] = r
	}
	if nulls != 2 {
		t.Errorf("%d invalid-request answers, want 2: %s", nulls, out)
	}
	if r := byID["1"]; string(r.Result) != `{"C":6}` {
		t.Errorf("id 1: %s", out)
	}
	if r := byID["5"]; string(r.Result) != `{"C":16}` {
		t.Errorf("id 5: %s", out)
	}
	if r := byID[`"div"`]; r.Error == nil || r.Error.Code != gateway.CodeInternalError || r.Error.Message != "divide by zero" {
		t.Errorf("id div: %s", out)
	}
	if r := byID["4"]; r.Error == nil || r.Error.Code != gateway.CodeMethodNotFound {
		t.Errorf("id 4: %s", out)
	}
	if got := testsvc.Recv(t, a.Notified, "the notification"); got != (testsvc.Args{A: 5, B: 6}) {
		t.Errorf("Notify got %+v", got)
	}
}

func TestJSONRPCNotifications(t *testing.T) {
	s, a := newArithServer(t)
	hs := serveGateway(t, s)
	tests := []struct {
		name     string
		body     string
		notified int
	}{
		{"single", `{"jsonrpc":"2.0","method":"Arith.Notify","params":{"A":1,"B":1}}`, 1},
		{"batch", `[{"jsonrpc":"2.0","method":"Arith.Notify","params":{"A":1}},{"jsonrpc":"2.0","method":"Arith.Notify","params":{"A":2}}]`, 2},
		{"failing notifications say nothing", `[{"jsonrpc":"2.0","method":"Arith.Nope"},{"jsonrpc":"2.0","method":"NoDot"},{"jsonrpc":"2.0","method":"Arith.Mul","params":[1,2]},{"jsonrpc":"2.0","method":"Arith.Div","params":{"A":1}}]`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postRPC(t, hs, tc.body)
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("status %d, body %q; want 204 and nothing", resp.StatusCode, body)
			}
			for range tc.notified {
				testsvc.Recv(t, a.Notified, "a notification")
			}
		})
	}
}

func TestJSONRPCBatchLimit(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s, gateway.WithMaxBatch(3))
	call := `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":1},"id":1}`
	_, body := postRPC(t, hs, "["+strings.Repeat(call+",", 3)+call+"]")
	if r := decodeSingle(t, body); r.Error == nil || r.Error.Code != gateway.CodeInvalidRequest || !contains(r.Error.Message, "limit is 3") {
		t.Errorf("4 in a batch of at most 3: %s", body)
	}
	_, body = postRPC(t, hs, "["+strings.Repeat(call+",", 2)+call+"]")
	var rs []rpcResp
	if err := json.Unmarshal(body, &rs); err != nil || len(rs) != 3 {
		t.Errorf("3 in a batch of at most 3: %s (%v)", body, err)
	}
}

// TestJSONRPCHTTPErrors covers the answers that are HTTP-level: method, content type, body
// size, bad metadata header; and routing by Content-Type without the X-JSONRPC-2.0 header.
func TestJSONRPCHTTPErrors(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s, gateway.WithMaxBodySize(256))
	call := `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":2},"id":1}`
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		status  int
		code    int
	}{
		{"GET", http.MethodGet, map[string]string{gateway.HeaderJSONRPC: "true"}, call, 405, gateway.CodeInvalidRequest},
		{"PUT", http.MethodPut, map[string]string{gateway.HeaderJSONRPC: "true"}, call, 405, gateway.CodeInvalidRequest},
		{"xml content type", "", map[string]string{gateway.HeaderJSONRPC: "true", "Content-Type": "text/xml"}, call, 415, gateway.CodeInvalidRequest},
		{"form content type", "", map[string]string{gateway.HeaderJSONRPC: "true", "Content-Type": "application/x-www-form-urlencoded"}, call, 415, gateway.CodeInvalidRequest},
		{"malformed content type", "", map[string]string{gateway.HeaderJSONRPC: "true", "Content-Type": "application/json; ;;"}, call, 415, gateway.CodeInvalidRequest},
		{"too large", "", map[string]string{gateway.HeaderJSONRPC: "true"}, call + strings.Repeat(" ", 256), 413, gateway.CodeInvalidRequest},
		{"bad meta", "", map[string]string{gateway.HeaderJSONRPC: "true", gateway.HeaderMeta: "%zz"}, call, 400, gateway.CodeInvalidRequest},
		{"no content type", "", map[string]string{gateway.HeaderJSONRPC: "true"}, call, 200, 0},
		{"header value case", "", map[string]string{gateway.HeaderJSONRPC: "TRUE"}, call, 200, 0},
		{"json-rpc content type", "", map[string]string{gateway.HeaderJSONRPC: "true", "Content-Type": "application/json-rpc"}, call, 200, 0},
		{"by content type alone", "", map[string]string{"Content-Type": "application/json; charset=utf-8"}, call, 200, 0},
		{"by +json content type", "", map[string]string{"Content-Type": "application/vnd.api+json"}, call, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, hs, invokeReq{method: tc.method, headers: tc.headers, body: []byte(tc.body)})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "POST, OPTIONS" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			r := decodeSingle(t, body)
			if tc.code == 0 {
				if string(r.Result) != `{"C":4}` {
					t.Errorf("got %s", body)
				}
			} else if r.Error == nil || r.Error.Code != tc.code || string(r.ID) != "null" {
				t.Errorf("got %s, want code %d, id null", body, tc.code)
			}
		})
	}

	// A JSON POST with X-RPCX-ServiceMethod is an HTTP invoke, not JSON-RPC.
	resp, body := do(t, hs, invokeReq{
		headers: arithHeaders("Mul", protocol.JSON, "Content-Type", "application/json"),
		body:    mustJSON(t, testsvc.Args{A: 3, B: 3}),
	})
	if resp.StatusCode != 200 || string(body) != `{"C":9}` {
		t.Errorf("invoke with a JSON content type: %d %s", resp.StatusCode, body)
	}
}

// TestJSONRPCMetadataAndAuth: X-RPCX-Meta and Authorization reach every call; an auth
// refusal is CodeUnauthorized.
func TestJSONRPCMetadataAndAuth(t *testing.T) {
	s, _ := newArithServer(t, server.WithAuthFunc(func(ctx context.Context, req *protocol.Message, token string) error {
		if token != "secret" {
			return fmt.Errorf("bad token %q", token)
		}
		return nil
	}))
	hs := serveGateway(t, s)
	body := `[{"jsonrpc":"2.0","method":"Arith.EchoMetadata","params":{},"id":1},{"jsonrpc":"2.0","method":"Arith.EchoMetadata","params":{},"id":2}]`
	_, out := postRPC(t, hs, body, "Authorization", "secret", gateway.HeaderMeta, "k=v")
	var rs []rpcResp
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 2 {
		t.Fatalf("%s: %v", out, err)
	}
	for _, r := range rs {
		var md map[string]string
		if err := json.Unmarshal(r.Result, &md); err != nil || md["k"] != "v" || md[protocol.AuthKey] != "secret" {
			t.Errorf("metadata %s (%v)", r.Result, err)
		}
	}
	_, out = postRPC(t, hs, `{"jsonrpc":"2.0","method":"Arith.Mul","params":{},"id":1}`, "Authorization", "nope")
	if r := decodeSingle(t, out); r.Error == nil || r.Error.Code != gateway.CodeUnauthorized || !contains(r.Error.Message, "bad token") {
		t.Errorf("refused: %s", out)
	}
}

// TestJSONRPCReplyNotJSON: an Invoker answering in another codec, or with bytes that are
// not JSON, gives an internal error rather than a broken response.
func TestJSONRPCReplyNotJSON(t *testing.T) {
	tests := []struct {
		name    string
		st      protocol.SerializeType
		payload string
		result  string
		code    int
	}{
		{"msgpack reply", protocol.MsgPack, "\x81\xa1C\x01", "", gateway.CodeInternalError},
		{"invalid JSON", protocol.JSON, "{", "", gateway.CodeInternalError},
		{"empty payload", protocol.JSON, "", "null", 0},
		{"padded", protocol.JSON, " \n{ \"a\" : 1 }\n", `{"a":1}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := serveGateway(t, invokerFunc(func(_ context.Context, req *protocol.Message) (*protocol.Message, error) {
				resp := req.Clone()
				resp.SetMessageType(protocol.Response)
				resp.SetSerializeType(tc.st)
				resp.Payload = []byte(tc.payload)
				return resp, nil
			}))
			_, body := postRPC(t, hs, `{"jsonrpc":"2.0","method":"A.B","id":1}`)
			r := decodeSingle(t, body)
			if tc.code == 0 {
				if !bytes.Equal(r.Result, []byte(tc.result)) {
					t.Errorf("got %s, want result %s", body, tc.result)
				}
			} else if r.Error == nil || r.Error.Code != tc.code {
				t.Errorf("got %s, want code %d", body, tc.code)
			}
		})
	}
}

// TestJSONRPCRequestShape checks what the Invoker receives: JSON, the split method, the
// params as payload, null without params, oneway for notifications.
func TestJSONRPCRequestShape(t *testing.T) {
	got := make(chan *protocol.Message, 4)
	hs := serveGateway(t, invokerFunc(func(_ context.Context, req *protocol.Message) (*protocol.Message, error) {
		got <- req.Clone()
		if req.IsOneway() {
			return nil, nil
		}
		resp := req.Clone()
		resp.SetMessageType(protocol.Response)
		resp.Payload = []byte("true")
		return resp, nil
	}))
	postRPC(t, hs, `{"jsonrpc":"2.0","method":"a.b.Svc.Do","params":{"x":[1, 2]},"id":1}`)
	req := testsvc.Recv(t, got, "the request")
	if req.ServicePath != "a.b.Svc" || req.ServiceMethod != "Do" || req.SerializeType() != protocol.JSON ||
		string(req.Payload) != `{"x":[1, 2]}` || req.IsOneway() {
		t.Errorf("request %s.%s st=%v oneway=%v payload %s", req.ServicePath, req.ServiceMethod, req.SerializeType(), req.IsOneway(), req.Payload)
	}
	postRPC(t, hs, `{"jsonrpc":"2.0","method":"S.M"}`)
	req = testsvc.Recv(t, got, "the notification")
	if !req.IsOneway() || string(req.Payload) != "null" {
		t.Errorf("notification oneway=%v payload %s", req.IsOneway(), req.Payload)
	}
}
