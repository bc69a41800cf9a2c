// Package protocol implements the rpcx wire format that brisk speaks byte for byte:
// a 16-byte prefix (magic, version, flags, serialize type, seq, body length) followed by the
// service path, service method, metadata block and payload, each length-prefixed.
//
// The package knows nothing about connections. Decoding checks every inner length against
// the frame and enforces a maximum message size before allocating, so a hostile peer cannot
// make a reader allocate more than the configured limit.
package protocol

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// MagicNumber is the first byte of every frame.
const MagicNumber byte = 0x08

// HeaderSize is the size of the fixed frame prefix: 12 header bytes plus the uint32 body length.
const HeaderSize = 16

// DefaultMaxMessageSize is the default limit on a frame's body and on a decompressed payload.
const DefaultMaxMessageSize = 64 << 20

// Reserved metadata keys.
const (
	// ServiceError is the response metadata key that carries a service error's text.
	ServiceError = "__rpcx_error__"
	// AuthKey is the request metadata key that carries the caller's auth token.
	AuthKey = "__AUTH"
	// ServerTimeout is the request metadata key that carries the caller's remaining deadline
	// in decimal milliseconds.
	ServerTimeout = "__ServerTimeout"
)

// MessageType says whether a frame is a request or a response.
type MessageType byte

const (
	// Request is a call, a heartbeat or a server push.
	Request MessageType = 0
	// Response answers a request.
	Response MessageType = 1
)

// CompressType is the payload compression named in the flags byte.
type CompressType byte

const (
	// None means the payload is not compressed.
	None CompressType = 0
	// Gzip means the payload is an RFC 1952 gzip stream.
	Gzip CompressType = 1
)

// MessageStatusType says whether a response reports success or an error.
type MessageStatusType byte

const (
	// Normal is a successful message.
	Normal MessageStatusType = 0
	// Error is a response whose metadata carries ServiceError.
	Error MessageStatusType = 1
)

// PushService is the service path of brisk's push subscriptions (methods Subscribe and
// Unsubscribe, argument: the topic name). It is under brisk's reserved prefix.
const PushService = "_brisk.Push"

// ReflectionService is the service path of brisk's reflection (method List): it describes
// the server's services and methods, with JSON Schemas of their argument and reply types.
// It is under brisk's reserved prefix.
const ReflectionService = "_brisk.Reflection"

// Error texts with which a brisk server refuses a request before running its method. A
// client may retry such a request on another server: it did not run.
const (
	TextShuttingDown = "brisk: server is shutting down"
	TextOverloaded   = "brisk: server overloaded"
	TextRateLimited  = "brisk: rate limit exceeded"
)

// Error texts of a request for a service or method the server does not have (followed by
// its name). rpcx's say "rpcx: can't find ..." instead of "brisk: ...".
const (
	TextUnknownService = "brisk: can't find service "
	TextUnknownMethod  = "brisk: can't find method "
)

// IsRefusalText reports whether an error text says a brisk server refused a request before
// running its method (see TextShuttingDown, TextOverloaded, TextRateLimited).
func IsRefusalText(text string) bool {
	return strings.HasPrefix(text, TextShuttingDown) || strings.HasPrefix(text, TextOverloaded) ||
		strings.HasPrefix(text, TextRateLimited)
}

// IsNotFoundText reports whether an error text says the server (brisk or rpcx) has no such
// service or method.
func IsNotFoundText(text string) bool {
	return strings.Contains(text, "can't find service ") || strings.Contains(text, "can't find method ")
}

// SerializeType names the codec of the payload (the high nibble of byte 3).
type SerializeType byte

// The serialize types rpcx defines; others up to 15 may be added by users.
const (
	SerializeNone SerializeType = 0 // raw bytes, passed through
	JSON          SerializeType = 1
	ProtoBuffer   SerializeType = 2
	MsgPack       SerializeType = 3
	Thrift        SerializeType = 4
)

// String returns the serialize type's conventional name.
func (t SerializeType) String() string {
	switch t {
	case SerializeNone:
		return "raw"
	case JSON:
		return "json"
	case ProtoBuffer:
		return "protobuf"
	case MsgPack:
		return "msgpack"
	case Thrift:
		return "thrift"
	}
	return "serialize(" + itoa(uint64(t)) + ")"
}

const (
	flagResponse  = 0x80
	flagHeartbeat = 0x40
	flagOneway    = 0x20
	maskCompress  = 0x1C
	maskStatus    = 0x03
)

// Header is the first 12 bytes of a frame: magic, version, flags, serialize type and seq.
type Header [12]byte

// CheckMagic reports whether the header starts with MagicNumber.
func (h *Header) CheckMagic() bool { return h[0] == MagicNumber }

// Version returns the protocol version byte.
func (h *Header) Version() byte { return h[1] }

// SetVersion sets the protocol version byte.
func (h *Header) SetVersion(v byte) { h[1] = v }

// MessageType returns whether the frame is a request or a response.
func (h *Header) MessageType() MessageType { return MessageType(h[2] >> 7) }

// SetMessageType sets the request/response bit.
func (h *Header) SetMessageType(t MessageType) { h[2] = h[2]&^flagResponse | byte(t&1)<<7 }

// IsHeartbeat reports whether the heartbeat bit is set.
func (h *Header) IsHeartbeat() bool { return h[2]&flagHeartbeat != 0 }

// SetHeartbeat sets or clears the heartbeat bit.
func (h *Header) SetHeartbeat(on bool) { h.setFlag(flagHeartbeat, on) }

// IsOneway reports whether the oneway bit is set.
func (h *Header) IsOneway() bool { return h[2]&flagOneway != 0 }

// SetOneway sets or clears the oneway bit.
func (h *Header) SetOneway(on bool) { h.setFlag(flagOneway, on) }

// CompressType returns the payload's compression.
func (h *Header) CompressType() CompressType { return CompressType(h[2] & maskCompress >> 2) }

// SetCompressType sets the payload's compression.
func (h *Header) SetCompressType(c CompressType) {
	h[2] = h[2]&^maskCompress | byte(c)<<2&maskCompress
}

// MessageStatusType returns the status bits.
func (h *Header) MessageStatusType() MessageStatusType { return MessageStatusType(h[2] & maskStatus) }

// SetMessageStatusType sets the status bits.
func (h *Header) SetMessageStatusType(s MessageStatusType) {
	h[2] = h[2]&^maskStatus | byte(s)&maskStatus
}

// SerializeType returns the payload's codec.
func (h *Header) SerializeType() SerializeType { return SerializeType(h[3] >> 4) }

// SetSerializeType sets the payload's codec.
func (h *Header) SetSerializeType(t SerializeType) { h[3] = byte(t) << 4 }

// Seq returns the message id.
func (h *Header) Seq() uint64 { return binary.BigEndian.Uint64(h[4:]) }

// SetSeq sets the message id.
func (h *Header) SetSeq(seq uint64) { binary.BigEndian.PutUint64(h[4:], seq) }

func (h *Header) setFlag(mask byte, on bool) {
	if on {
		h[2] |= mask
	} else {
		h[2] &^= mask
	}
}

// Message is one frame. Messages from NewMessage/GetPooledMsg may be recycled with
// FreeMsg; after that none of their fields, Payload included, may be used.
type Message struct {
	Header
	ServicePath   string
	ServiceMethod string
	// Metadata holds the frame's key/value pairs. A decoded message reuses its map.
	Metadata map[string]string
	// Payload is the codec-encoded body, already decompressed by Decode. After Decode it
	// aliases a buffer owned by the message.
	Payload []byte

	body []byte // decode buffer the payload and strings were read from
	zbuf []byte // decompression buffer
}

// NewMessage returns an empty request message with the magic byte set.
func NewMessage() *Message {
	m := &Message{}
	m.Header[0] = MagicNumber
	return m
}

// Reset clears the message for reuse, keeping its buffers and metadata map.
func (m *Message) Reset() {
	m.Header = Header{MagicNumber}
	m.ServicePath = ""
	m.ServiceMethod = ""
	clear(m.Metadata)
	m.Payload = nil
}

// Clone returns a deep copy that owns its memory and shares nothing with m.
func (m *Message) Clone() *Message {
	c := &Message{Header: m.Header, ServicePath: m.ServicePath, ServiceMethod: m.ServiceMethod}
	if len(m.Metadata) > 0 {
		c.Metadata = make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			c.Metadata[k] = v
		}
	}
	c.Payload = bytes.Clone(m.Payload) // nil stays nil, empty stays empty
	return c
}

// EncodedSize returns the length of the frame AppendFrame would produce.
func (m *Message) EncodedSize() int {
	return HeaderSize + 16 + len(m.ServicePath) + len(m.ServiceMethod) + metadataSize(m.Metadata) + len(m.Payload)
}

// AppendFrame appends the encoded frame to dst and returns the extended slice. The payload is
// written as is: compress it first (see Compress) if the flags say so.
func (m *Message) AppendFrame(dst []byte) []byte {
	mdLen := metadataSize(m.Metadata)
	total := 16 + len(m.ServicePath) + len(m.ServiceMethod) + mdLen + len(m.Payload)
	dst = append(dst, m.Header[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = appendString(dst, m.ServicePath)
	dst = appendString(dst, m.ServiceMethod)
	dst = binary.BigEndian.AppendUint32(dst, uint32(mdLen))
	for k, v := range m.Metadata {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Payload)))
	return append(dst, m.Payload...)
}

// Encode returns the encoded frame in a new slice.
func (m *Message) Encode() []byte {
	return m.AppendFrame(make([]byte, 0, m.EncodedSize()))
}

func metadataSize(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += 8 + len(k) + len(v)
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
