// Package codec turns call arguments and replies into payload bytes and back.
//
// Each serialize type of the wire protocol (raw bytes, JSON, Protobuf, MsgPack, Thrift) has a
// Codec. Servers and clients each own a Set that maps serialize types to codecs, so adding a
// codec to one never changes another.
package codec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/proto"

	"github.com/brisk-rpc/brisk/protocol"
)

// Codec encodes values into payloads and decodes payloads into values.
type Codec interface {
	// Name is the codec's conventional name, for errors and logs.
	Name() string
	// Encode appends the encoding of v to dst and returns the extended slice.
	Encode(dst []byte, v any) ([]byte, error)
	// Decode decodes data into v, which is a pointer. It must not keep data, which the
	// caller may reuse once Decode returns.
	Decode(data []byte, v any) error
}

// ErrUnknownCodec means no codec is registered for a serialize type.
var ErrUnknownCodec = errors.New("brisk/codec: no codec for serialize type")

// Error reports a failure to encode or decode a value.
type Error struct {
	Codec string // the codec's name
	Op    string // "encode" or "decode"
	Err   error
}

// Error implements the error interface.
func (e *Error) Error() string { return "brisk/codec: " + e.Codec + " " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Set maps serialize types (0 to 15) to codecs. A Set is not safe for concurrent
// registration: finish registering before the server or client using it starts.
type Set struct {
	codecs [16]Codec
}

// NewSet returns a Set holding the built-in codecs: raw, JSON, Protobuf, MsgPack and Thrift.
func NewSet() *Set {
	s := &Set{}
	s.codecs[protocol.SerializeNone] = Raw{}
	s.codecs[protocol.JSON] = JSON{}
	s.codecs[protocol.ProtoBuffer] = Protobuf{}
	s.codecs[protocol.MsgPack] = MsgPack{}
	s.codecs[protocol.Thrift] = Thrift{}
	return s
}

// Register sets the codec for serialize type t, replacing any before it. The serialize type
// is a 4-bit field on the wire, so t must be at most 15.
func (s *Set) Register(t protocol.SerializeType, c Codec) error {
	if int(t) >= len(s.codecs) {
		return fmt.Errorf("brisk/codec: serialize type %d is over 15", t)
	}
	if c == nil {
		return fmt.Errorf("brisk/codec: nil codec for serialize type %d", t)
	}
	s.codecs[t] = c
	return nil
}

// Get returns the codec for t, or an error wrapping ErrUnknownCodec.
func (s *Set) Get(t protocol.SerializeType) (Codec, error) {
	if int(t) < len(s.codecs) {
		if c := s.codecs[t]; c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownCodec, t)
}

func encodeErr(name string, err error) error { return &Error{Codec: name, Op: "encode", Err: err} }
func decodeErr(name string, err error) error { return &Error{Codec: name, Op: "decode", Err: err} }

// Raw passes bytes through: values must be []byte (or *[]byte), and Decode needs a *[]byte.
type Raw struct{}

// Name returns "raw".
func (Raw) Name() string { return "raw" }

// Encode appends v's bytes.
func (Raw) Encode(dst []byte, v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return append(dst, b...), nil
	case *[]byte:
		if b == nil {
			return dst, nil
		}
		return append(dst, *b...), nil
	case nil:
		return dst, nil
	}
	return dst, encodeErr("raw", fmt.Errorf("want []byte, got %T", v))
}

// Decode copies data into *v.
func (Raw) Decode(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok || b == nil {
		return decodeErr("raw", fmt.Errorf("want a non-nil *[]byte, got %T", v))
	}
	*b = append((*b)[:0], data...)
	return nil
}

// JSON uses encoding/json.
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Encode appends v's JSON encoding.
func (JSON) Encode(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, encodeErr("json", err)
	}
	return append(dst, b...), nil
}

// Decode decodes JSON data into v. An empty payload leaves v unchanged.
func (JSON) Decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return decodeErr("json", err)
	}
	return nil
}

// Protobuf uses google.golang.org/protobuf; values must be proto.Message.
type Protobuf struct{}

// Name returns "protobuf".
func (Protobuf) Name() string { return "protobuf" }

// Encode appends v's protobuf encoding.
func (Protobuf) Encode(dst []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return dst, encodeErr("protobuf", fmt.Errorf("%T is not a proto.Message", v))
	}
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst, encodeErr("protobuf", err)
	}
	return out, nil
}

// Decode decodes data into v.
func (Protobuf) Decode(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return decodeErr("protobuf", fmt.Errorf("%T is not a proto.Message", v))
	}
	if !m.ProtoReflect().IsValid() {
		// proto.Unmarshal would panic on a nil pointer.
		return decodeErr("protobuf", fmt.Errorf("cannot decode into a nil %T", v))
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return decodeErr("protobuf", err)
	}
	return nil
}

// MsgPack uses github.com/vmihailenco/msgpack/v5, the rpcx Go client's default.
type MsgPack struct{}

// Name returns "msgpack".
func (MsgPack) Name() string { return "msgpack" }

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// WriteByte lets the msgpack encoder use the writer directly instead of wrapping it in an
// allocated adapter.
func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

var msgpackWriters = sync.Pool{New: func() any { return new(appendWriter) }}

// Encode appends v's MsgPack encoding.
func (MsgPack) Encode(dst []byte, v any) ([]byte, error) {
	w := msgpackWriters.Get().(*appendWriter)
	w.b = dst
	enc := msgpack.GetEncoder()
	enc.Reset(w)
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	out := w.b
	w.b = nil
	msgpackWriters.Put(w)
	if err != nil {
		return dst, encodeErr("msgpack", err)
	}
	return out, nil
}

// Decode decodes MsgPack data into v. An empty payload leaves v unchanged.
//
// The data is checked before it is decoded (see checkMsgPack): the msgpack library sizes
// slices by the length the data claims and recurses once per nesting level, so a few hostile
// bytes could otherwise make it allocate gigabytes or overflow the stack.
func (MsgPack) Decode(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if _, err := checkMsgPack(data); err != nil {
		return decodeErr("msgpack", err)
	}
	if err := msgpack.Unmarshal(data, v); err != nil {
		return decodeErr("msgpack", err)
	}
	return nil
}

// Thrift uses the Thrift binary protocol; values must be thrift.TStruct.
type Thrift struct{}

// Name returns "thrift".
func (Thrift) Name() string { return "thrift" }

// Encode appends v's Thrift binary encoding.
func (Thrift) Encode(dst []byte, v any) ([]byte, error) {
	s, ok := v.(thrift.TStruct)
	if !ok {
		return dst, encodeErr("thrift", fmt.Errorf("%T is not a thrift.TStruct", v))
	}
	if isNilPointer(v) {
		// Generated Write methods dereference their receiver.
		return dst, encodeErr("thrift", fmt.Errorf("cannot encode a nil %T", v))
	}
	buf := thrift.NewTMemoryBufferLen(256)
	p := thrift.NewTBinaryProtocolConf(buf, nil)
	if err := s.Write(context.Background(), p); err != nil {
		return dst, encodeErr("thrift", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		return dst, encodeErr("thrift", err)
	}
	return append(dst, buf.Bytes()...), nil
}

// Decode decodes Thrift binary data into v.
func (Thrift) Decode(data []byte, v any) error {
	s, ok := v.(thrift.TStruct)
	if !ok {
		return decodeErr("thrift", fmt.Errorf("%T is not a thrift.TStruct", v))
	}
	if isNilPointer(v) {
		return decodeErr("thrift", fmt.Errorf("cannot decode into a nil %T", v))
	}
	buf := thrift.NewTMemoryBufferLen(len(data))
	_, _ = buf.Write(data)
	p := thrift.NewTBinaryProtocolConf(buf, &thrift.TConfiguration{MaxMessageSize: int32(min(len(data)+1, 1<<30))})
	if err := s.Read(context.Background(), p); err != nil {
		return decodeErr("thrift", err)
	}
	return nil
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
