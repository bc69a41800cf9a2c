package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// unhex turns an annotated hex dump (as in PROTOCOL.md) into bytes. Everything after a
// '|' or '#' on a line is a comment.
func unhex(t testing.TB, dump string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(dump, "\n") {
		if i := strings.IndexAny(line, "|#"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex dump: %v", err)
	}
	return b
}

// goldenRequest is the annotated request of PROTOCOL.md, verified against rpcx.
const goldenRequest = `
08 00 00 10  00 00 00 00 00 00 00 2a  00 00 00 31  # magic ver flags=req ser=JSON | seq 42 | total 49
00 00 00 05 41 72 69 74 68                         # "Arith"
00 00 00 03 4d 75 6c                               # "Mul"
00 00 00 0a 00 00 00 01 6b 00 00 00 01 76          # metadata (10 bytes): "k" -> "v"
00 00 00 0f 7b 22 41 22 3a 31 31 2c 22 42 22 3a 31 32 7d
`

// goldenResponse is rpcx's answer to goldenRequest.
const goldenResponse = `
08 00 80 10  00 00 00 00 00 00 00 2a  00 00 00 21  # response, JSON, seq 42, total 33
00 00 00 05 41 72 69 74 68                         # "Arith" echoed
00 00 00 03 4d 75 6c                               # "Mul" echoed
00 00 00 00                                        # no metadata
00 00 00 09 7b 22 43 22 3a 31 33 32 7d             # {"C":132}
`

// fields is what a test expects a decoded message to hold.
type fields struct {
	version   byte
	msgType   protocol.MessageType
	heartbeat bool
	oneway    bool
	compress  protocol.CompressType
	status    protocol.MessageStatusType
	serialize protocol.SerializeType
	seq       uint64
	path      string
	method    string
	metadata  map[string]string
	payload   []byte
}

func (f fields) message() *protocol.Message {
	m := protocol.NewMessage()
	m.SetVersion(f.version)
	m.SetMessageType(f.msgType)
	m.SetHeartbeat(f.heartbeat)
	m.SetOneway(f.oneway)
	m.SetCompressType(f.compress)
	m.SetMessageStatusType(f.status)
	m.SetSerializeType(f.serialize)
	m.SetSeq(f.seq)
	m.ServicePath = f.path
	m.ServiceMethod = f.method
	m.Metadata = f.metadata
	m.Payload = f.payload
	return m
}

func checkFields(t testing.TB, m *protocol.Message, want fields) {
	t.Helper()
	if !m.CheckMagic() {
		t.Errorf("magic = 0x%02x", m.Header[0])
	}
	if got := m.Version(); got != want.version {
		t.Errorf("Version = %d, want %d", got, want.version)
	}
	if got := m.MessageType(); got != want.msgType {
		t.Errorf("MessageType = %d, want %d", got, want.msgType)
	}
	if got := m.IsHeartbeat(); got != want.heartbeat {
		t.Errorf("IsHeartbeat = %v, want %v", got, want.heartbeat)
	}
	if got := m.IsOneway(); got != want.oneway {
		t.Errorf("IsOneway = %v, want %v", got, want.oneway)
	}
	if got := m.CompressType(); got != want.compress {
		t.Errorf("CompressType = %d, want %d", got, want.compress)
	}
	if got := m.MessageStatusType(); got != want.status {
		t.Errorf("MessageStatusType = %d, want %d", got, want.status)
	}
	if got := m.SerializeType(); got != want.serialize {
		t.Errorf("SerializeType = %v, want %v", got, want.serialize)
	}
	if got := m.Seq(); got != want.seq {
		t.Errorf("Seq = %d, want %d", got, want.seq)
	}
	if m.ServicePath != want.path {
		t.Errorf("ServicePath = %q, want %q", m.ServicePath, want.path)
	}
	if m.ServiceMethod != want.method {
		t.Errorf("ServiceMethod = %q, want %q", m.ServiceMethod, want.method)
	}
	if len(m.Metadata) != len(want.metadata) || !maps.Equal(m.Metadata, want.metadata) {
		t.Errorf("Metadata = %v, want %v", m.Metadata, want.metadata)
	}
	if !bytes.Equal(m.Payload, want.payload) {
		t.Errorf("Payload = %q, want %q", m.Payload, want.payload)
	}
}

// goldenCases are frames whose bytes PROTOCOL.md fixes. Each has at most one metadata pair,
// so that the encoding is deterministic.
func goldenCases(t testing.TB) []struct {
	name   string
	fields fields
	frame  []byte
} {
	gzipped := protocol.Compress(nil, []byte{0x93, 0x01, 0x02, 0x03}) // msgpack [1,2,3]
	gzipFrame := unhex(t, `
		08 00 04 30  00 00 00 00 00 00 00 07  # flags=gzip ser=msgpack | seq 7
		00 00 00 00  # total, patched below
		00 00 00 01 53  00 00 00 01 4d  00 00 00 00`)
	gzipFrame = append(gzipFrame, 0, 0, 0, byte(len(gzipped)))
	gzipFrame = append(gzipFrame, gzipped...)
	gzipFrame[15] = byte(len(gzipFrame) - protocol.HeaderSize)

	return []struct {
		name   string
		fields fields
		frame  []byte
	}{
		{
			name: "request Arith.Mul",
			fields: fields{
				serialize: protocol.JSON, seq: 42, path: "Arith", method: "Mul",
				metadata: map[string]string{"k": "v"}, payload: []byte(`{"A":11,"B":12}`),
			},
			frame: unhex(t, goldenRequest),
		},
		{
			name: "response Arith.Mul",
			fields: fields{
				msgType: protocol.Response, serialize: protocol.JSON, seq: 42, path: "Arith",
				method: "Mul", payload: []byte(`{"C":132}`),
			},
			frame: unhex(t, goldenResponse),
		},
		{
			name: "heartbeat request",
			fields: fields{
				heartbeat: true, serialize: protocol.MsgPack, seq: 1,
				payload: []byte{0xd3, 0, 0, 0, 0, 0x65, 0x4c, 0x1b, 0x80}, // msgpack int64 timestamp
			},
			frame: unhex(t, `
				08 00 40 30  00 00 00 00 00 00 00 01  00 00 00 19
				00 00 00 00  00 00 00 00  00 00 00 00
				00 00 00 09 d3 00 00 00 00 65 4c 1b 80`),
		},
		{
			name: "heartbeat reply",
			fields: fields{
				msgType: protocol.Response, heartbeat: true, serialize: protocol.MsgPack, seq: 1,
				payload: []byte{0xd3, 0, 0, 0, 0, 0x65, 0x4c, 0x1b, 0x80},
			},
			frame: unhex(t, `
				08 00 c0 30  00 00 00 00 00 00 00 01  00 00 00 19
				00 00 00 00  00 00 00 00  00 00 00 00
				00 00 00 09 d3 00 00 00 00 65 4c 1b 80`),
		},
		{
			name: "error response",
			fields: fields{
				msgType: protocol.Response, status: protocol.Error, serialize: protocol.JSON,
				seq: 42, path: "Arith", method: "Mul",
				metadata: map[string]string{protocol.ServiceError: "boom"},
			},
			frame: unhex(t, `
				08 00 81 10  00 00 00 00 00 00 00 2a  00 00 00 32  # total 50
				00 00 00 05 41 72 69 74 68
				00 00 00 03 4d 75 6c
				00 00 00 1a                                       # metadata (26 bytes)
				00 00 00 0e 5f 5f 72 70 63 78 5f 65 72 72 6f 72 5f 5f   # "__rpcx_error__"
				00 00 00 04 62 6f 6f 6d                           # "boom"
				00 00 00 00                                       # no payload`),
		},
		{
			name: "oneway server push",
			fields: fields{
				oneway: true, seq: 1 << 40, path: "Chat", method: "Say",
				payload: []byte("hi"),
			},
			frame: unhex(t, `
				08 00 20 00  00 00 01 00 00 00 00 00  00 00 00 19
				00 00 00 04 43 68 61 74  00 00 00 03 53 61 79  00 00 00 00
				00 00 00 02 68 69`),
		},
		{
			// Decode hands back the decompressed payload, so only the header and the
			// compressed bytes are fixed here; TestGzipFrame checks the payload.
			name: "gzip msgpack",
			fields: fields{
				compress: protocol.Gzip, serialize: protocol.MsgPack, seq: 7, path: "S", method: "M",
				payload: gzipped,
			},
			frame: gzipFrame,
		},
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.fields.message()
			got := m.AppendFrame(nil)
			if !bytes.Equal(got, tc.frame) {
				t.Fatalf("AppendFrame =\n%s\nwant\n%s", hex.Dump(got), hex.Dump(tc.frame))
			}
			if n := m.EncodedSize(); n != len(tc.frame) {
				t.Errorf("EncodedSize = %d, want %d", n, len(tc.frame))
			}
			if enc := m.Encode(); !bytes.Equal(enc, tc.frame) {
				t.Errorf("Encode differs from AppendFrame:\n%s", hex.Dump(enc))
			}
			prefix := []byte("prefix")
			if app := m.AppendFrame(prefix); !bytes.Equal(app, append([]byte("prefix"), tc.frame...)) {
				t.Errorf("AppendFrame onto a non-empty slice =\n%s", hex.Dump(app))
			}
		})
	}
}

func TestGoldenRequestIs65Bytes(t *testing.T) {
	frame := unhex(t, goldenRequest)
	if len(frame) != 65 {
		t.Fatalf("golden request is %d bytes, PROTOCOL.md says 65", len(frame))
	}
	m := protocol.NewMessage()
	m.SetSerializeType(protocol.JSON)
	m.SetSeq(42)
	m.ServicePath, m.ServiceMethod = "Arith", "Mul"
	m.Metadata = map[string]string{"k": "v"}
	m.Payload = []byte(`{"A":11,"B":12}`)
	if got := m.AppendFrame(nil); !bytes.Equal(got, frame) {
		t.Fatalf("AppendFrame =\n%s\nwant\n%s", hex.Dump(got), hex.Dump(frame))
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, tc := range goldenCases(t) {
		want := tc.fields
		if want.compress == protocol.Gzip {
			want.payload = []byte{0x93, 0x01, 0x02, 0x03}
		}
		t.Run(tc.name+"/DecodeBytes", func(t *testing.T) {
			m := protocol.NewMessage()
			if err := m.DecodeBytes(tc.frame, 0); err != nil {
				t.Fatalf("DecodeBytes: %v", err)
			}
			checkFields(t, m, want)
		})
		t.Run(tc.name+"/Decode", func(t *testing.T) {
			m := protocol.NewMessage()
			r := bufio.NewReader(bytes.NewReader(tc.frame))
			if err := m.Decode(r, 0); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkFields(t, m, want)
			if err := m.Decode(r, 0); err != io.EOF {
				t.Errorf("Decode at end of stream = %v, want io.EOF", err)
			}
		})
	}
}

// TestGoldenResponseFromRequest builds the response the way a server does, by turning the
// decoded request around in place.
func TestGoldenResponseFromRequest(t *testing.T) {
	m := protocol.NewMessage()
	if err := m.DecodeBytes(unhex(t, goldenRequest), 0); err != nil {
		t.Fatal(err)
	}
	m.SetMessageType(protocol.Response)
	m.Metadata = nil
	m.Payload = []byte(`{"C":132}`)
	want := unhex(t, goldenResponse)
	if got := m.AppendFrame(nil); !bytes.Equal(got, want) {
		t.Fatalf("response =\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
	}
}

func TestFlagsByte(t *testing.T) {
	tests := []struct {
		name  string
		set   func(m *protocol.Message)
		flags byte
	}{
		{"request", func(m *protocol.Message) {}, 0x00},
		{"response", func(m *protocol.Message) { m.SetMessageType(protocol.Response) }, 0x80},
		{"heartbeat", func(m *protocol.Message) { m.SetHeartbeat(true) }, 0x40},
		{"heartbeat reply", func(m *protocol.Message) {
			m.SetHeartbeat(true)
			m.SetMessageType(protocol.Response)
		}, 0xC0},
		{"oneway", func(m *protocol.Message) { m.SetOneway(true) }, 0x20},
		{"gzip", func(m *protocol.Message) { m.SetCompressType(protocol.Gzip) }, 0x04},
		{"error response", func(m *protocol.Message) {
			m.SetMessageType(protocol.Response)
			m.SetMessageStatusType(protocol.Error)
		}, 0x81},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := protocol.NewMessage()
			tc.set(m)
			if m.Header[2] != tc.flags {
				t.Errorf("flags = 0x%02x, want 0x%02x", m.Header[2], tc.flags)
			}
			if frame := m.AppendFrame(nil); frame[2] != tc.flags {
				t.Errorf("encoded flags = 0x%02x, want 0x%02x", frame[2], tc.flags)
			}
		})
	}
}

func TestSerializeTypeByte(t *testing.T) {
	tests := []struct {
		t    protocol.SerializeType
		b    byte
		name string
	}{
		{protocol.SerializeNone, 0x00, "raw"},
		{protocol.JSON, 0x10, "json"},
		{protocol.ProtoBuffer, 0x20, "protobuf"},
		{protocol.MsgPack, 0x30, "msgpack"},
		{protocol.Thrift, 0x40, "thrift"},
		{7, 0x70, "serialize(7)"},
		{15, 0xF0, "serialize(15)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h protocol.Header
			h.SetSerializeType(tc.t)
			if h[3] != tc.b {
				t.Errorf("byte 3 = 0x%02x, want 0x%02x", h[3], tc.b)
			}
			if got := h.SerializeType(); got != tc.t {
				t.Errorf("SerializeType = %d, want %d", got, tc.t)
			}
			if got := tc.t.String(); got != tc.name {
				t.Errorf("String = %q, want %q", got, tc.name)
			}
		})
	}
}
