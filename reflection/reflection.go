// Package reflection asks a brisk server what it serves: its services, their methods, and
// JSON Schemas of each method's argument and reply types, derived from the Go types. Tools
// (the brisk command, the dashboard, a grpcurl-like shell) use it to call methods without
// the server's Go code.
//
// Every brisk server answers the built-in service protocol.ReflectionService
// ("_brisk.Reflection"), method List, whose arguments are ignored. The request goes through
// the server's auth check and middleware like any other, so a server that needs a token
// needs it here too. The reply, in the JSON codec:
//
//	{"services":[{"name":"Arith","metadata":"group=a","methods":[
//	   {"name":"Mul","kind":"unary","args":{...JSON Schema...},"reply":{...}},
//	   {"name":"Chat","kind":"stream"}]}]}
//
// Services and methods are sorted by name, and brisk's own _brisk services are not listed.
// A stream method has no schemas. The schemas (draft 2020-12) describe the JSON that
// encoding/json writes for the type, which the server's JSON codec accepts; see
// docs/REFLECTION.md for the rules and limits. A server that is not brisk (rpcx) or that
// predates reflection answers with an error for which client.IsNotFound is true.
//
// The server answers List in the JSON or MsgPack codec (in MsgPack, Args and Reply are
// binary strings holding the schema's JSON text); List here always asks in JSON, whatever
// the client's SerializeType.
package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

// Method is the reflection service's method that lists the services.
const Method = "List"

// Kinds of method.
const (
	// KindUnary is a request-reply method: func(ctx, args, *reply) error.
	KindUnary = "unary"
	// KindStream is a stream method: func(ctx, *server.Stream) error. It has no schemas.
	KindStream = "stream"
)

// ListReply is what a server answers List with.
type ListReply struct {
	Services []ServiceInfo `json:"services" msgpack:"services"`
}

// ServiceInfo describes one service.
type ServiceInfo struct {
	Name string `json:"name" msgpack:"name"`
	// Metadata is the metadata string the service was registered with ("group=a").
	Metadata string       `json:"metadata" msgpack:"metadata"`
	Methods  []MethodInfo `json:"methods" msgpack:"methods"`
}

// MethodInfo describes one method.
type MethodInfo struct {
	Name string `json:"name" msgpack:"name"`
	// Kind is KindUnary or KindStream.
	Kind string `json:"kind" msgpack:"kind"`
	// Args and Reply are JSON Schemas of the argument and reply types (empty for a stream
	// method). A schema may be the JSON literal true, which accepts any value.
	Args  json.RawMessage `json:"args,omitempty" msgpack:"args,omitempty"`
	Reply json.RawMessage `json:"reply,omitempty" msgpack:"reply,omitempty"`
}

// Method returns the method service.method of the reply.
func (r *ListReply) Method(service, method string) (*MethodInfo, bool) {
	if r == nil {
		return nil, false
	}
	i := slices.IndexFunc(r.Services, func(s ServiceInfo) bool { return s.Name == service })
	if i < 0 {
		return nil, false
	}
	ms := r.Services[i].Methods
	j := slices.IndexFunc(ms, func(m MethodInfo) bool { return m.Name == method })
	if j < 0 {
		return nil, false
	}
	return &ms[j], true
}

// List asks the server c is connected to for its services, in the JSON codec. A refusal
// or a server without reflection is a client.ServiceError (see client.IsRefused and
// client.IsNotFound); other errors are c.Invoke's.
func List(ctx context.Context, c *client.Client) (*ListReply, error) {
	if c == nil {
		return nil, errors.New("brisk/reflection: List with a nil client")
	}
	return ListFrom(ctx, c)
}

// ListFrom is List through any gateway.Invoker: a *client.Client, or a *server.Server to
// describe a server in the same process (its auth check applies: put the token in ctx with
// client.WithMetadata, or use a server without one).
func ListFrom(ctx context.Context, inv gateway.Invoker) (*ListReply, error) {
	if inv == nil {
		return nil, errors.New("brisk/reflection: ListFrom with a nil invoker")
	}
	req := Request()
	if md := client.RequestMetadata(ctx); len(md) > 0 {
		req.Metadata = maps.Clone(md) // an Invoker may modify the request
	}
	resp, err := inv.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	return Decode(resp)
}

// Request returns a new List request in the JSON codec, for callers that send it
// themselves.
func Request() *protocol.Message {
	req := protocol.NewMessage()
	req.SetMessageType(protocol.Request)
	req.SetSerializeType(protocol.JSON)
	req.ServicePath = protocol.ReflectionService
	req.ServiceMethod = Method
	req.Payload = []byte("{}")
	return req
}

// Decode reads the response to a List request sent in the JSON codec. A response with
// status Error gives a client.ServiceError.
func Decode(resp *protocol.Message) (*ListReply, error) {
	if resp == nil {
		return nil, errors.New("brisk/reflection: no response")
	}
	if resp.MessageStatusType() == protocol.Error {
		return nil, client.ServiceError(resp.Metadata[protocol.ServiceError])
	}
	if st := resp.SerializeType(); st != protocol.JSON {
		return nil, fmt.Errorf("brisk/reflection: the response is in %s, not json", st)
	}
	var out ListReply
	if err := json.Unmarshal(resp.Payload, &out); err != nil {
		return nil, fmt.Errorf("brisk/reflection: bad List reply: %w", err)
	}
	return &out, nil
}
