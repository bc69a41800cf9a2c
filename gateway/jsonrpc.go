package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/brisk-rpc/brisk/protocol"
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// rpcResponse is a JSON-RPC response object.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"` // nil encodes as null
}

// rpcCall is one decoded JSON-RPC request. A request that is invalid carries err (and is
// answered even without an id, as the spec requires, with id null unless its id was valid).
type rpcCall struct {
	id      json.RawMessage // nil: a notification (or an invalid request's null id)
	notify  bool
	service string
	method  string
	params  []byte // the payload: the argument object, or null
	err     *rpcError
}

// nullParams is the payload of a call without params: JSON null decodes to the zero value
// of any argument type, where {} would fail for non-struct arguments.
var nullParams = []byte("null")

// decodeJSONRPC decodes a JSON-RPC request body: one request or a batch of at most
// maxBatch. A non-nil error is the single answer to the whole body (parse error, empty or
// oversized batch, neither object nor array).
func decodeJSONRPC(body []byte, maxBatch int) (calls []rpcCall, batch bool, fail *rpcError) {
	if !json.Valid(body) {
		return nil, false, &rpcError{CodeParseError, "parse error: the body is not valid JSON"}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if trimmed[0] != '[' {
		return []rpcCall{decodeCall(trimmed)}, false, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(trimmed, &elems); err != nil {
		return nil, true, &rpcError{CodeParseError, "parse error: " + err.Error()}
	}
	switch {
	case len(elems) == 0:
		return nil, true, &rpcError{CodeInvalidRequest, "invalid request: empty batch"}
	case len(elems) > maxBatch:
		return nil, true, &rpcError{CodeInvalidRequest, fmt.Sprintf("invalid request: batch of %d requests, the limit is %d", len(elems), maxBatch)}
	}
	calls = make([]rpcCall, len(elems))
	for i, e := range elems {
		calls[i] = decodeCall(e)
	}
	return calls, true, nil
}

// decodeCall decodes one request object (raw is valid JSON).
func decodeCall(raw []byte) rpcCall {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return rpcCall{err: &rpcError{CodeInvalidRequest, "invalid request: not an object"}}
	}
	var f struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
		Method  json.RawMessage `json:"method"`
		Params  json.RawMessage `json:"params"`
		ID      json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return rpcCall{err: &rpcError{CodeInvalidRequest, "invalid request: " + err.Error()}}
	}
	var c rpcCall
	switch {
	case f.ID == nil:
		c.notify = true
	case validID(f.ID):
		c.id = f.ID
	default:
		return rpcCall{err: &rpcError{CodeInvalidRequest, "invalid request: id must be a string, a number or null"}}
	}
	invalid := func(msg string) rpcCall {
		return rpcCall{id: c.id, err: &rpcError{CodeInvalidRequest, "invalid request: " + msg}}
	}
	var version string
	if f.JSONRPC == nil || json.Unmarshal(f.JSONRPC, &version) != nil || version != "2.0" {
		return invalid(`jsonrpc must be "2.0"`)
	}
	var method string
	if f.Method == nil || json.Unmarshal(f.Method, &method) != nil {
		return invalid("method must be a string")
	}
	c.params = nullParams
	switch p := bytes.TrimLeft(f.Params, " \t\r\n"); {
	case len(p) == 0 || p[0] == 'n': // absent or null
	case p[0] == '{':
		c.params = p
	case p[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(p, &elems); err != nil {
			return invalid("params: " + err.Error())
		}
		switch {
		case len(elems) == 0:
		case len(elems) == 1 && bytes.HasPrefix(bytes.TrimLeft(elems[0], " \t\r\n"), []byte("{")):
			c.params = bytes.TrimLeft(elems[0], " \t\r\n")
		default:
			c.err = &rpcError{CodeInvalidParams, "invalid params: positional params are not supported; pass an object (by name), or an array holding one object"}
			return c
		}
	default:
		return invalid("params must be an object or an array")
	}
	dot := strings.LastIndexByte(method, '.')
	switch {
	case strings.HasPrefix(method, "rpc."):
		c.err = &rpcError{CodeMethodNotFound, "method not found: " + method + " (rpc. names are reserved)"}
	case dot <= 0 || dot == len(method)-1:
		c.err = &rpcError{CodeMethodNotFound, `method not found: "` + method + `" is not "Service.Method"`}
	default:
		c.service, c.method = method[:dot], method[dot+1:]
	}
	return c
}

// validID reports whether a (valid JSON) id is a string, a number or null.
func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', '-', 'n', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// serveJSONRPC answers a JSON-RPC 2.0 request.
func (h *handler) serveJSONRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeRPCFailure(w, http.StatusMethodNotAllowed, CodeInvalidRequest, "invalid request: JSON-RPC needs POST, not "+quoteHeader(r.Method))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONMediaType(ct) {
		writeRPCFailure(w, http.StatusUnsupportedMediaType, CodeInvalidRequest, "invalid request: Content-Type "+quoteHeader(ct)+" is not JSON")
		return
	}
	md, err := requestMetadata(r.Header)
	if err != nil {
		writeRPCFailure(w, http.StatusBadRequest, CodeInvalidRequest, "invalid request: bad "+HeaderMeta+": "+err.Error())
		return
	}
	body, berr := readBody(w, r, h.cfg.maxBody)
	if berr != nil {
		writeRPCFailure(w, berr.status, CodeInvalidRequest, "invalid request: "+strings.TrimPrefix(berr.msg, "brisk/gateway: "))
		return
	}
	calls, batch, fail := decodeJSONRPC(body, h.cfg.maxBatch)
	if fail != nil {
		writeRPCFailure(w, http.StatusOK, fail.Code, fail.Message)
		return
	}

	responses := make([]*rpcResponse, len(calls))
	if len(calls) == 1 {
		responses[0] = h.runCall(r, &calls[0], md)
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, batchParallelism)
		for i := range calls {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				responses[i] = h.runCall(r, &calls[i], md)
			})
		}
		wg.Wait()
	}
	out := responses[:0]
	for _, resp := range responses {
		if resp != nil {
			out = append(out, resp)
		}
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent) // only notifications: nothing to answer
		return
	}
	var data []byte
	if batch {
		data, err = json.Marshal(out)
	} else {
		data, err = json.Marshal(out[0])
	}
	if err != nil { // results are checked before; this is a bug, not a client's doing
		writeRPCFailure(w, http.StatusInternalServerError, CodeInternalError, "internal error: encoding the response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, data)
}

// runCall makes one call and returns its response, or nil for a notification.
func (h *handler) runCall(r *http.Request, c *rpcCall, md map[string]string) *rpcResponse {
	if c.err != nil {
		if c.notify {
			return nil // a valid notification gets no answer, not even an error
		}
		return &rpcResponse{JSONRPC: "2.0", Error: c.err, ID: c.id}
	}
	req := protocol.NewMessage()
	req.SetMessageType(protocol.Request)
	req.SetSerializeType(protocol.JSON)
	req.SetSeq(h.seq.Add(1))
	req.SetOneway(c.notify)
	req.ServicePath, req.ServiceMethod = c.service, c.method
	if len(md) > 0 {
		req.Metadata = make(map[string]string, len(md)) // the Invoker may modify it
		for k, v := range md {
			req.Metadata[k] = v
		}
	}
	req.Payload = c.params

	resp, err := h.invoke(r.Context(), req)
	if c.notify {
		return nil
	}
	fail := func(kind failureKind, text string) *rpcResponse {
		return &rpcResponse{JSONRPC: "2.0", Error: &rpcError{kind.jsonrpcCode(), text}, ID: c.id}
	}
	switch {
	case err != nil:
		return fail(classifyErr(err), err.Error())
	case resp.MessageStatusType() == protocol.Error:
		text := serviceErrorText(resp)
		return fail(classifyServiceError(text), text)
	case resp.SerializeType() != protocol.JSON:
		return fail(kindService, fmt.Sprintf("internal error: the reply is %v, not JSON", resp.SerializeType()))
	}
	result := bytes.TrimSpace(resp.Payload)
	if len(result) == 0 {
		result = nullParams
	} else if !json.Valid(result) {
		return fail(kindService, "internal error: the reply is not valid JSON")
	}
	return &rpcResponse{JSONRPC: "2.0", Result: result, ID: c.id}
}

// requestMetadata returns the metadata X-RPCX-Meta and Authorization give every call.
func requestMetadata(rh http.Header) (map[string]string, error) {
	var md map[string]string
	if meta := rh.Get(HeaderMeta); meta != "" {
		values, err := url.ParseQuery(meta)
		if err != nil {
			return nil, err
		}
		md = make(map[string]string, len(values)+1)
		for k, v := range values {
			if len(v) > 0 {
				md[k] = v[0]
			}
		}
	}
	if auth := rh.Get("Authorization"); auth != "" {
		if md == nil {
			md = make(map[string]string, 1)
		}
		md[protocol.AuthKey] = auth
	}
	return md, nil
}

// writeRPCFailure answers with one JSON-RPC error whose id is null.
func writeRPCFailure(w http.ResponseWriter, status, code int, msg string) {
	data, _ := json.Marshal(&rpcResponse{JSONRPC: "2.0", Error: &rpcError{code, msg}})
	writeJSON(w, status, data)
}

func writeJSON(w http.ResponseWriter, status int, data []byte) {
	wh := w.Header()
	wh.Set("Content-Type", "application/json")
	wh.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
