package server

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/brisk-rpc/brisk/internal/jsonschema"
	"github.com/brisk-rpc/brisk/protocol"
)

// The reflection service (protocol.ReflectionService) answers its method List with the
// server's services, their methods and the JSON Schemas of their argument and reply types.
// The reply types below mirror the public ones of package reflection, which clients decode
// into; the server does not import that package (it imports the client).

// reflectionList is the reply of List.
type reflectionList struct {
	Services []reflectionService `json:"services" msgpack:"services"`
}

// reflectionService describes one service.
type reflectionService struct {
	Name     string             `json:"name" msgpack:"name"`
	Metadata string             `json:"metadata" msgpack:"metadata"`
	Methods  []reflectionMethod `json:"methods" msgpack:"methods"`
}

// reflectionMethod describes one method. Args and Reply are absent for stream methods.
type reflectionMethod struct {
	Name  string          `json:"name" msgpack:"name"`
	Kind  string          `json:"kind" msgpack:"kind"`
	Args  json.RawMessage `json:"args,omitempty" msgpack:"args,omitempty"`
	Reply json.RawMessage `json:"reply,omitempty" msgpack:"reply,omitempty"`
}

// reflectionCache keeps what List answers, so that a request costs an encoding and no
// reflection: schemas by type, built once, and the reply for the current service table.
type reflectionCache struct {
	mu      sync.Mutex
	schemas map[reflect.Type]json.RawMessage
	table   *map[string]*service // the service table reply describes
	reply   *reflectionList
}

// reflectionControl answers protocol.ReflectionService's methods.
func (s *Server) reflectionControl(_ context.Context, inv *Invocation) error {
	if inv.ServiceMethod != "List" {
		return &notFoundError{protocol.TextUnknownMethod + inv.ServiceMethod + " of service " + inv.ServicePath, ErrUnknownMethod}
	}
	if inv.stream != nil {
		return errors.New("brisk: " + inv.ServicePath + "." + inv.ServiceMethod + " is not a stream method: call it")
	}
	st := inv.req.SerializeType()
	if st != protocol.JSON && st != protocol.MsgPack {
		return errors.New("brisk: reflection needs the json or msgpack serialize type, not " + st.String())
	}
	cdc, err := s.codecs.Get(st)
	if err != nil {
		return errors.New("brisk: " + err.Error())
	}
	reply, err := s.reflection.list(s.services.Load())
	if err != nil {
		return err
	}
	return inv.encodeReply(cdc, reply)
}

// list returns the reply describing table, building it when the table changed since the
// last call. The reply is shared and must not be modified.
func (c *reflectionCache) list(table *map[string]*service) (*reflectionList, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.table == table && c.reply != nil {
		return c.reply, nil
	}
	out := &reflectionList{Services: make([]reflectionService, 0, len(*table))}
	for name, svc := range *table {
		if strings.HasPrefix(name, reservedPrefix) {
			continue
		}
		rs := reflectionService{Name: name, Metadata: svc.metadata, Methods: make([]reflectionMethod, 0, len(svc.methods))}
		for mname, mt := range svc.methods {
			m := reflectionMethod{Name: mname, Kind: "unary"}
			if mt.stream {
				m.Kind = "stream"
			} else {
				var err error
				if m.Args, err = c.schema(mt.argType); err != nil {
					return nil, err
				}
				if m.Reply, err = c.schema(mt.replyType); err != nil {
					return nil, err
				}
			}
			rs.Methods = append(rs.Methods, m)
		}
		slices.SortFunc(rs.Methods, func(a, b reflectionMethod) int { return strings.Compare(a.Name, b.Name) })
		out.Services = append(out.Services, rs)
	}
	slices.SortFunc(out.Services, func(a, b reflectionService) int { return strings.Compare(a.Name, b.Name) })
	c.table, c.reply = table, out
	return out, nil
}

// schema returns t's JSON Schema, made on first use. c.mu is held.
func (c *reflectionCache) schema(t reflect.Type) (json.RawMessage, error) {
	if b, ok := c.schemas[t]; ok {
		return b, nil
	}
	b, err := json.Marshal(jsonschema.For(t))
	if err != nil {
		return nil, errors.New("brisk: reflection cannot describe type " + t.String() + ": " + err.Error())
	}
	if c.schemas == nil {
		c.schemas = make(map[reflect.Type]json.RawMessage)
	}
	c.schemas[t] = b
	return b, nil
}
