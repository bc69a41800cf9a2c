// Package gateway answers HTTP for brisk and rpcx services: rpcx's "HTTP invoke" (a call
// described by X-RPCX-* headers, its payload in the body) and JSON-RPC 2.0, both as one
// http.Handler over any Invoker. A *server.Server invokes its own services (a brisk server
// answers HTTP on its native tcp port with gateway.New(server)); a *client.XClient forwards
// to the servers discovery lists, which makes a standalone gateway:
//
//	xclient := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
//	defer xclient.Close()
//	http.ListenAndServe(":8080", gateway.New(xclient))
//
// # Routing
//
// Every request is routed on its own (a keep-alive connection may mix both kinds):
//   - JSON-RPC 2.0 when the header X-JSONRPC-2.0 is "true" (rpcx's convention), or when a
//     POST has a JSON Content-Type and no X-RPCX-ServiceMethod header (such a request could
//     not be an HTTP invoke, which needs that header, so nothing valid is taken away);
//   - an OPTIONS request is answered by the handler (CORS preflight, or 204 with Allow);
//   - anything else is an HTTP invoke.
//
// # HTTP invoke
//
// Request headers: X-RPCX-ServicePath (or the URL path without its leading "/"),
// X-RPCX-ServiceMethod (required), X-RPCX-SerializeType (decimal 0-15, required),
// X-RPCX-MessageID (decimal, echoed), X-RPCX-Oneway and X-RPCX-Heartbeat (any value but
// "", "0" and "false" sets them), X-RPCX-Meta (URL-query-encoded metadata; the first value
// of a repeated key wins) and Authorization (sent as __AUTH). The body is the payload,
// already encoded with the serialize type; Content-Encoding: gzip is decompressed first
// (the size limit applies to the decompressed payload). Methods GET, POST and PUT, as rpcx.
//
// The response body is the reply payload, with X-RPCX-MessageID, X-RPCX-ServicePath,
// X-RPCX-ServiceMethod, X-RPCX-SerializeType, X-RPCX-Meta (the response metadata) and a
// Content-Type for the serialize type. A failure sets X-RPCX-MessageStatusType: Error and
// X-RPCX-ErrorMessage (the text, control characters replaced by spaces, at most 4 KiB).
// A oneway call answers 200 with an empty body once the Invoker returns; a heartbeat is
// answered by the gateway itself (200, its payload echoed, no Invoker call).
//
// Status codes:
//
//	200 the call succeeded (or a oneway call was handed over, or a heartbeat)
//	400 missing or malformed X-RPCX-* headers, bad X-RPCX-Meta, bad gzip body
//	401 the Invoker refused the caller (an error wrapping ErrUnauthorized)
//	405 a method other than GET, POST, PUT (HTTP invoke) or POST (JSON-RPC)
//	413 the body, or the decompressed body, is larger than WithMaxBodySize
//	415 an unknown Content-Encoding; for JSON-RPC, a Content-Type that is not JSON
//	500 the service answered with an error (a response with status Error), as rpcx
//	502 any other Invoker error (a transport failure: the call may not have run)
//	503 no server can take the call (an error wrapping ErrUnavailable, or a server that
//	    is shutting down)
//	504 the call timed out (an error wrapping context.DeadlineExceeded: WithTimeout)
//
// # JSON-RPC 2.0
//
// Over POST only, single or batch requests. "method" is "Service.Method", split at the
// last dot; "params" is the argument object, sent as the JSON payload (serialize type 1).
// Positional params are refused with -32602, except an array of exactly one object (the
// object is the argument) and an empty array (no argument). Missing or null params send
// the JSON null, which decodes to the zero argument. A request without "id" is a
// notification: it is sent oneway and gets no response; a request or batch that leaves
// nothing to answer gets 204 No Content. X-RPCX-Meta and Authorization apply to every call
// of the request, as for HTTP invoke. Answers are 200 with a JSON body, errors included.
//
// Error codes: -32700 parse error; -32600 invalid request (not an object, "jsonrpc" not
// "2.0", "method" not a string, bad "id" or "params" type, empty or oversized batch);
// -32601 method not found (no dot, an "rpc." name, or the server's "can't find
// service/method"); -32602 invalid params (positional, or the server's "bad arguments");
// -32603 internal error (any other service error, as rpcx; a non-JSON reply; a transport
// failure); and, for what the Invoker reports, CodeUnauthorized, CodeUnavailable and
// CodeTimeout. The error message is the error's text.
//
// # Limits
//
// Bodies are read through http.MaxBytesReader (WithMaxBodySize, default 4 MiB), batches
// hold at most WithMaxBatch requests (default 100) and run at most 8 at a time; JSON
// nesting is bounded by the body size and encoding/json's own depth limit. Hostile input
// gets an error answer, never a panic.
package gateway

import (
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of the options.
const (
	// DefaultMaxBodySize is the default limit on a request body (WithMaxBodySize).
	DefaultMaxBodySize = 4 << 20
	// DefaultMaxBatch is the default limit on the requests of a JSON-RPC batch.
	DefaultMaxBatch = 100
)

// batchParallelism is how many calls of one JSON-RPC batch run at once.
const batchParallelism = 8

// Header names of rpcx's HTTP invoke.
const (
	HeaderVersion           = "X-RPCX-Version"
	HeaderMessageID         = "X-RPCX-MessageID"
	HeaderHeartbeat         = "X-RPCX-Heartbeat"
	HeaderOneway            = "X-RPCX-Oneway"
	HeaderMessageStatusType = "X-RPCX-MessageStatusType"
	HeaderSerializeType     = "X-RPCX-SerializeType"
	HeaderServicePath       = "X-RPCX-ServicePath"
	HeaderServiceMethod     = "X-RPCX-ServiceMethod"
	HeaderMeta              = "X-RPCX-Meta"
	HeaderErrorMessage      = "X-RPCX-ErrorMessage"
	// HeaderJSONRPC set to "true" marks a JSON-RPC 2.0 request.
	HeaderJSONRPC = "X-JSONRPC-2.0"
)

// Option configures the handler New returns.
type Option func(*config)

type config struct {
	cors     *CORS
	maxBody  int64
	timeout  time.Duration
	maxBatch int
}

// WithCORS answers CORS preflight requests and sets the CORS headers of actual requests
// by c (see CORS).
func WithCORS(c CORS) Option {
	return func(cfg *config) { cfg.cors = &c }
}

// WithMaxBodySize limits request bodies to n bytes (after gzip decompression, if any);
// larger ones get 413. n <= 0 means DefaultMaxBodySize.
func WithMaxBodySize(n int64) Option {
	return func(cfg *config) {
		if n <= 0 {
			n = DefaultMaxBodySize
		}
		cfg.maxBody = n
	}
}

// WithTimeout bounds every call (each call of a JSON-RPC batch on its own) by d: the
// Invoker's context gets the deadline, so a handler sees it and an XClient sends it as
// __ServerTimeout. A call that times out answers 504 (HTTP invoke) or CodeTimeout.
// d <= 0 means no timeout beyond the HTTP request's own context.
func WithTimeout(d time.Duration) Option {
	return func(cfg *config) { cfg.timeout = max(d, 0) }
}

// WithMaxBatch limits a JSON-RPC batch to n requests; a larger batch is answered with one
// invalid-request error. n <= 0 means DefaultMaxBatch.
func WithMaxBatch(n int) Option {
	return func(cfg *config) {
		if n <= 0 {
			n = DefaultMaxBatch
		}
		cfg.maxBatch = n
	}
}

// handler is the http.Handler New returns.
type handler struct {
	inv  Invoker
	cfg  config
	cors *corsPolicy
	seq  atomic.Uint64 // message ids of JSON-RPC calls
}

// New returns an http.Handler that answers rpcx's HTTP invoke and JSON-RPC 2.0 requests
// by calling inv. A nil inv makes every call fail as unavailable (503).
func New(inv Invoker, opts ...Option) http.Handler {
	h := &handler{inv: inv, cfg: config{maxBody: DefaultMaxBodySize, maxBatch: DefaultMaxBatch}}
	for _, o := range opts {
		if o != nil {
			o(&h.cfg)
		}
	}
	if h.cfg.cors != nil {
		h.cors = newCORSPolicy(*h.cfg.cors)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if addr := httpRemoteAddr(r.RemoteAddr); addr != nil {
		r = r.WithContext(WithRemoteAddr(r.Context(), addr))
	}
	if h.cors != nil && h.cors.handle(w, r) {
		return // a preflight, answered
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, POST, PUT, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if isJSONRPC(r) {
		h.serveJSONRPC(w, r)
		return
	}
	h.serveInvoke(w, r)
}

// isJSONRPC reports whether r is a JSON-RPC request (see the package doc).
func isJSONRPC(r *http.Request) bool {
	if strings.EqualFold(strings.TrimSpace(r.Header.Get(HeaderJSONRPC)), "true") {
		return true
	}
	if r.Method != http.MethodPost || r.Header.Get(HeaderServiceMethod) != "" {
		return false
	}
	ct := r.Header.Get("Content-Type")
	return ct != "" && isJSONMediaType(ct)
}

// isJSONMediaType reports whether ct names JSON: application/json, application/json-rpc,
// application/jsonrequest or any type with the +json suffix.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/json-rpc", "application/jsonrequest":
		return true
	}
	return strings.HasSuffix(mt, "+json")
}
