package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// echoInvoker answers every call with its params, as JSON.
type echoInvoker struct{}

func (echoInvoker) Invoke(_ context.Context, req *protocol.Message) (*protocol.Message, error) {
	if req.IsOneway() {
		return nil, nil
	}
	resp := req.Clone()
	resp.SetMessageType(protocol.Response)
	return resp, nil
}

// FuzzJSONRPC feeds arbitrary bodies to the JSON-RPC request decoder and to the whole
// handler: no panic, and every answer is a well-formed JSON-RPC response (or 204).
func FuzzJSONRPC(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2},"id":1}`,
		`{"jsonrpc":"2.0","method":"Arith.Mul","params":[{"A":1}],"id":"x"}`,
		`{"jsonrpc":"2.0","method":"Arith.Mul","params":[1,2],"id":null}`,
		`{"jsonrpc":"2.0","method":"Arith.Notify"}`,
		`[{"jsonrpc":"2.0","method":"a.b","id":1},{"jsonrpc":"2.0","method":"c"},1,{}]`,
		`[]`, `[[]]`, `{"jsonrpc":"2.0","method":"rpc.x","id":{}}`, `{`, `"x"`, `null`, ` `,
		`{"jsonrpc":"2.0","method":"A.B","params":"s","id":-0.5e3}`,
		`{"JSONRPC":"2.0","Method":"A.B","ID":1,"id":2}`,
	} {
		f.Add([]byte(seed))
	}
	h := New(echoInvoker{}, WithMaxBatch(16), WithMaxBodySize(1<<16))
	f.Fuzz(func(t *testing.T, body []byte) {
		calls, batch, fail := decodeJSONRPC(body, 16)
		if fail != nil {
			if calls != nil {
				t.Fatalf("a failure with calls")
			}
		} else {
			if len(calls) == 0 || (!batch && len(calls) != 1) || len(calls) > 16 {
				t.Fatalf("%d calls, batch %v", len(calls), batch)
			}
			for _, c := range calls {
				if c.err == nil && (c.service == "" || c.method == "" || !json.Valid(c.params)) {
					t.Fatalf("valid call with service %q method %q params %q", c.service, c.method, c.params)
				}
				if c.id != nil && !json.Valid(c.id) {
					t.Fatalf("invalid id %q", c.id)
				}
			}
		}

		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set(HeaderJSONRPC, "true")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusNoContent:
			if rec.Body.Len() != 0 {
				t.Fatalf("204 with a body")
			}
			return
		case http.StatusOK, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		out := rec.Body.Bytes()
		var one rpcResponse
		var many []rpcResponse
		if err := json.Unmarshal(out, &one); err != nil {
			if err := json.Unmarshal(out, &many); err != nil || len(many) == 0 {
				t.Fatalf("answer %q is neither a response nor a batch", out)
			}
		} else {
			many = []rpcResponse{one}
		}
		for _, r := range many {
			if r.JSONRPC != "2.0" || (r.Error == nil) == (r.Result == nil) {
				t.Fatalf("bad response in %q", out)
			}
		}
	})
}
