package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// decoders runs a test against both ways of decoding a frame.
var decoders = []struct {
	name   string
	decode func(m *protocol.Message, frame []byte, maxSize int) error
}{
	{"Decode", func(m *protocol.Message, frame []byte, maxSize int) error {
		return m.Decode(bufio.NewReader(bytes.NewReader(frame)), maxSize)
	}},
	{"DecodeBytes", func(m *protocol.Message, frame []byte, maxSize int) error {
		return m.DecodeBytes(frame, maxSize)
	}},
}

// patch returns a copy of frame with a big-endian uint32 written at off.
func patch(frame []byte, off int, v uint32) []byte {
	out := bytes.Clone(frame)
	binary.BigEndian.PutUint32(out[off:], v)
	return out
}

// heapAlloc runs f and returns how many bytes it allocated on the heap. Tests that call it
// must not run in parallel.
func heapAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func checkFrameError(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
	var fe *protocol.FrameError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not a *protocol.FrameError", err)
	}
	if fe.Err != want {
		t.Errorf("FrameError.Err = %v, want %v", fe.Err, want)
	}
	if !strings.HasPrefix(err.Error(), want.Error()) {
		t.Errorf("Error() = %q, want it to start with %q", err.Error(), want.Error())
	}
}

// Offsets of the length fields in the golden request.
const (
	offTotal     = 12
	offPath      = 16
	offMethod    = 25
	offMetadata  = 32
	offMDKey     = 36
	offMDValue   = 41
	offPayload   = 46
	goldenLength = 65
)

func TestDecodeMalformed(t *testing.T) {
	golden := unhex(t, goldenRequest)
	if len(golden) != goldenLength {
		t.Fatalf("golden frame is %d bytes", len(golden))
	}
	withTrailing := append(patch(golden, offTotal, 50), 0xEE)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"path length 4 GiB", patch(golden, offPath, 0xFFFFFFFF)},
		{"path length one past the frame", patch(golden, offPath, 46)},
		{"path length short shifts the rest", patch(golden, offPath, 4)},
		{"method length 4 GiB", patch(golden, offMethod, 0xFFFFFFFF)},
		{"method length one past the frame", patch(golden, offMethod, 37)},
		{"metadata length 4 GiB", patch(golden, offMetadata, 0xFFFFFFFF)},
		{"metadata length past the frame", patch(golden, offMetadata, 30)},
		{"metadata length eats the payload length", patch(golden, offMetadata, 12)},
		{"metadata key length past the block", patch(golden, offMDKey, 7)},
		{"metadata key length past the frame", patch(golden, offMDKey, 0xFFFFFFFF)},
		{"metadata value length past the block", patch(golden, offMDValue, 2)},
		{"metadata value length past the frame", patch(golden, offMDValue, 0x7FFFFFFF)},
		{"metadata block too short for the value length", patch(golden, offMetadata, 7)},
		{"metadata block leaves a partial pair", patch(patch(golden, offMetadata, 10), offMDValue, 0)},
		{"payload length 4 GiB", patch(golden, offPayload, 0xFFFFFFFF)},
		{"payload length one past the frame", patch(golden, offPayload, 16)},
		{"payload length short leaves trailing bytes", patch(golden, offPayload, 14)},
		{"byte after the payload", withTrailing},
		{"empty body", patch(golden[:16], offTotal, 0)},
		{"body of 3 bytes", append(patch(golden[:16], offTotal, 3), 0, 0, 0)},
		{"body with only a path", append(patch(golden[:16], offTotal, 4), 0, 0, 0, 0)},
		{"body without a payload length", append(patch(golden[:16], offTotal, 12), make([]byte, 12)...)},
	}
	for _, tc := range tests {
		for _, d := range decoders {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				m := protocol.NewMessage()
				m.Metadata = map[string]string{"stale": "yes"}
				m.Payload = []byte("stale")
				err := d.decode(m, tc.frame, 0)
				checkFrameError(t, err, protocol.ErrMalformed)
				// The header survives, so a server can answer by seq; nothing half-parsed does.
				if m.Seq() != 42 || m.SerializeType() != protocol.JSON {
					t.Errorf("header not kept: seq %d ser %v", m.Seq(), m.SerializeType())
				}
				if len(m.Metadata) != 0 || m.Payload != nil {
					t.Errorf("half-filled message: metadata %v payload %q", m.Metadata, m.Payload)
				}
			})
		}
	}
}

// TestDecodeMetadataBlockShortened checks that a metadata value overrunning its block is
// caught even when the frame has bytes enough to satisfy it.
func TestDecodeMetadataBlockShortened(t *testing.T) {
	golden := unhex(t, goldenRequest)
	// Claim a 9-byte block: the value length (1) then needs a byte that belongs to the
	// payload length. Move one byte to keep the total right.
	frame := patch(golden, offMetadata, 9)
	frame = patch(frame, offPayload-1, 0)
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			err := d.decode(protocol.NewMessage(), frame, 0)
			checkFrameError(t, err, protocol.ErrMalformed)
		})
	}
}

func TestDecodeStreamKeepsFrameBoundaryAfterMalformed(t *testing.T) {
	golden := unhex(t, goldenRequest)
	bad := patch(golden, offPath, 0xFFFFFFFF)
	stream := append(append(bytes.Clone(bad), golden...), bad...)
	r := bufio.NewReader(bytes.NewReader(stream))
	m := protocol.NewMessage()
	checkFrameError(t, m.Decode(r, 0), protocol.ErrMalformed)
	if err := m.Decode(r, 0); err != nil {
		t.Fatalf("frame after a malformed one: %v", err)
	}
	if m.ServicePath != "Arith" || m.Metadata["k"] != "v" {
		t.Errorf("decoded %q %v", m.ServicePath, m.Metadata)
	}
	checkFrameError(t, m.Decode(r, 0), protocol.ErrMalformed)
	if err := m.Decode(r, 0); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}
}

func TestDecodeTruncated(t *testing.T) {
	golden := unhex(t, goldenRequest)
	for n := range len(golden) {
		for _, d := range decoders {
			m := protocol.NewMessage()
			err := d.decode(m, golden[:n], 0)
			if n == 0 && d.name == "Decode" {
				if err != io.EOF {
					t.Errorf("%s of 0 bytes = %v, want io.EOF exactly", d.name, err)
				}
				continue
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s of %d bytes = %v, want io.ErrUnexpectedEOF", d.name, n, err)
				continue
			}
			var fe *protocol.FrameError
			if !errors.As(err, &fe) {
				t.Errorf("%s of %d bytes: %T is not a *FrameError", d.name, n, err)
			}
			if len(m.Metadata) != 0 || m.Payload != nil {
				t.Errorf("%s of %d bytes left metadata %v payload %q", d.name, n, m.Metadata, m.Payload)
			}
		}
	}
}

// oneByteReader returns at most one byte per Read, so bufio must assemble every field from
// many reads.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestDecodeOneByteAtATime(t *testing.T) {
	golden := unhex(t, goldenRequest)
	stream := bytes.Repeat(golden, 3)
	r := bufio.NewReaderSize(oneByteReader{bytes.NewReader(stream)}, 16)
	m := protocol.NewMessage()
	for i := range 3 {
		if err := m.Decode(r, 0); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		checkFields(t, m, fields{
			serialize: protocol.JSON, seq: 42, path: "Arith", method: "Mul",
			metadata: map[string]string{"k": "v"}, payload: []byte(`{"A":11,"B":12}`),
		})
	}
	if err := m.Decode(r, 0); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestDecodeReaderError checks that an I/O error other than EOF (a deadline, say) is
// reported as itself, not disguised as a truncated frame.
func TestDecodeReaderError(t *testing.T) {
	errDeadline := errors.New("i/o timeout")
	golden := unhex(t, goldenRequest)
	for _, n := range []int{0, 1, 15, 16, 17, 40, 64} {
		r := bufio.NewReader(&failingReader{data: golden[:n], err: errDeadline})
		err := protocol.NewMessage().Decode(r, 0)
		if !errors.Is(err, errDeadline) {
			t.Errorf("after %d bytes: %v, want the reader's error", n, err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("after %d bytes: reader error reported as unexpected EOF", n)
		}
	}
}

func TestDecodeBadMagic(t *testing.T) {
	golden := unhex(t, goldenRequest)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"zero", append([]byte{0x00}, golden[1:]...)},
		{"0x09", append([]byte{0x09}, golden[1:]...)},
		{"0xFF", append([]byte{0xFF}, golden[1:]...)},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"JSON-RPC", []byte(`{"jsonrpc":"2.0","method":"Arith.Mul","id":1}`)},
	}
	for _, tc := range tests {
		for _, d := range decoders {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				checkFrameError(t, d.decode(protocol.NewMessage(), tc.frame, 0), protocol.ErrBadMagic)
			})
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	golden := unhex(t, goldenRequest)
	tests := []struct {
		name    string
		total   uint32
		maxSize int
	}{
		{"4 GiB, default limit", 0xFFFFFFFF, 0},
		{"4 GiB, negative limit means default", 0xFFFFFFFF, -1},
		{"default limit plus one", protocol.DefaultMaxMessageSize + 1, 0},
		{"limit 48, body 49", 49, 48},
		{"limit 1, body 49", 49, 1},
	}
	for _, tc := range tests {
		for _, d := range decoders {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				frame := patch(golden, offTotal, tc.total)
				var err error
				alloc := heapAlloc(func() {
					err = d.decode(protocol.NewMessage(), frame, tc.maxSize)
				})
				checkFrameError(t, err, protocol.ErrMessageTooLarge)
				if alloc > 64<<10 {
					t.Errorf("rejecting a %d-byte body allocated %d bytes", tc.total, alloc)
				}
			})
		}
	}
	// At the limit exactly, the frame is accepted.
	for _, d := range decoders {
		if err := d.decode(protocol.NewMessage(), golden, 49); err != nil {
			t.Errorf("%s: body of 49 bytes, limit 49: %v", d.name, err)
		}
	}
}

// TestDecodeLargeFrameCutShort declares bodies far larger than what arrives: a peer that
// lies about a length must not make the reader allocate it.
func TestDecodeLargeFrameCutShort(t *testing.T) {
	golden := unhex(t, goldenRequest)
	tests := []struct {
		name    string
		total   uint32
		maxSize int
		sent    int    // body bytes that arrive
		most    uint64 // the most Decode may allocate
	}{
		{"60 MiB declared, 10 bytes sent", 60 << 20, 0, 10, 3 << 20},
		{"60 MiB declared, 0 bytes sent", 60 << 20, 0, 0, 3 << 20},
		{"4 GiB declared with no limit, 10 bytes sent", 0xFFFFFFFF, math.MaxInt, 10, 3 << 20},
		{"60 MiB declared, 3 MiB sent", 60 << 20, 0, 3 << 20, 16 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if uint64(tc.total) > uint64(tc.maxSize) && tc.maxSize > 0 {
				t.Skip("int too small on this platform")
			}
			frame := append(patch(golden[:16], offTotal, tc.total), make([]byte, tc.sent)...)
			var err error
			alloc := heapAlloc(func() {
				err = protocol.NewMessage().Decode(bufio.NewReader(bytes.NewReader(frame)), tc.maxSize)
			})
			checkFrameError(t, err, io.ErrUnexpectedEOF)
			// The buffer grows with what arrives, not with what was declared.
			if alloc > tc.most {
				t.Errorf("allocated %d bytes for %d sent (at most %d)", alloc, tc.sent, tc.most)
			}
		})
	}
}

// TestDecodeLargeFrame decodes frames above the size where Decode grows its buffer as the
// body arrives, including into a message whose buffer is already big enough.
func TestDecodeLargeFrame(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"just over 1 MiB", 1<<20 + 1},
		{"3 MiB", 3 << 20},
		{"5 MiB + 7", 5<<20 + 7},
	}
	m := protocol.NewMessage() // reused: the second pass finds a big enough buffer
	for pass := range 2 {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("pass %d/%s", pass, tc.name), func(t *testing.T) {
				src := protocol.NewMessage()
				src.ServicePath, src.ServiceMethod = "Big", "Data"
				src.Payload = make([]byte, tc.size)
				for i := range src.Payload {
					src.Payload[i] = byte(i * 7)
				}
				r := bufio.NewReader(bytes.NewReader(src.Encode()))
				if err := m.Decode(r, 0); err != nil {
					t.Fatalf("pass %d: %v", pass, err)
				}
				if !bytes.Equal(m.Payload, src.Payload) || m.ServicePath != "Big" {
					t.Fatalf("pass %d: payload of %d bytes differs", pass, len(m.Payload))
				}
			})
		}
	}
}

func TestDecodeUnknownCompressType(t *testing.T) {
	golden := unhex(t, goldenRequest)
	for ct := protocol.CompressType(2); ct < 8; ct++ {
		for _, d := range decoders {
			t.Run(fmt.Sprintf("type %d/%s", ct, d.name), func(t *testing.T) {
				frame := bytes.Clone(golden)
				frame[2] = byte(ct) << 2
				m := protocol.NewMessage()
				checkFrameError(t, d.decode(m, frame, 0), protocol.ErrUnknownCompressType)
				if m.CompressType() != ct || m.Seq() != 42 || m.Payload != nil {
					t.Errorf("after error: compress %d seq %d payload %q", m.CompressType(), m.Seq(), m.Payload)
				}
			})
		}
	}
}

// gzipFrame returns a request frame whose payload is the gzip stream z.
func gzipFrame(z []byte) []byte {
	m := protocol.NewMessage()
	m.SetCompressType(protocol.Gzip)
	m.SetSerializeType(protocol.MsgPack)
	m.SetSeq(9)
	m.ServicePath, m.ServiceMethod = "S", "M"
	m.Payload = z
	return m.Encode()
}

func TestDecodeGzip(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", []byte{}},
		{"small", []byte{0x93, 1, 2, 3}},
		{"64 KiB text", bytes.Repeat([]byte("brisk speaks rpcx "), 64<<10/18)},
	}
	m := protocol.NewMessage()
	for _, tc := range tests {
		for _, d := range decoders {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				frame := gzipFrame(protocol.Compress(nil, tc.payload))
				if err := d.decode(m, frame, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(m.Payload, tc.payload) {
					t.Fatalf("payload %d bytes, want %d", len(m.Payload), len(tc.payload))
				}
				if m.CompressType() != protocol.Gzip || m.SerializeType() != protocol.MsgPack {
					t.Errorf("header flags changed: % x", m.Header[2:4])
				}
			})
		}
	}
}

func TestDecodeGzipBomb(t *testing.T) {
	bomb := gzipBomb(t)
	frame := gzipFrame(bomb)
	const limit = 1 << 20
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			m := protocol.NewMessage()
			var err error
			alloc := heapAlloc(func() { err = d.decode(m, frame, limit) })
			checkFrameError(t, err, protocol.ErrDecompressedTooLarge)
			if alloc > 8<<20 {
				t.Errorf("a bomb with a 1 MiB limit allocated %d bytes", alloc)
			}
			if m.Payload != nil {
				t.Errorf("payload of %d bytes after a bomb", len(m.Payload))
			}
		})
	}
}

func TestDecodeCorruptGzip(t *testing.T) {
	good := protocol.Compress(nil, bytes.Repeat([]byte("abcdefgh"), 100))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xFF
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 0x01
	badSize := bytes.Clone(good)
	badSize[len(badSize)-4] ^= 0x01
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("hello, world")},
		{"gzip magic only", []byte{0x1f, 0x8b}},
		{"header only", good[:10]},
		{"cut short", good[:len(good)/2]},
		{"no trailer", good[:len(good)-8]},
		{"flipped byte", flipped},
		{"bad CRC", badCRC},
		{"bad size", badSize},
		{"trailing garbage", append(bytes.Clone(good), 0xde, 0xad)},
	}
	for _, tc := range tests {
		for _, d := range decoders {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				m := protocol.NewMessage()
				checkFrameError(t, d.decode(m, gzipFrame(tc.payload), 0), protocol.ErrBadCompressedData)
				if m.Payload != nil {
					t.Errorf("payload %q after an error", m.Payload)
				}
			})
		}
	}
}

// TestDecodeReuseNoStaleState decodes a sequence of frames, some bad, into one message.
func TestDecodeReuseNoStaleState(t *testing.T) {
	build := func(path, method string, md map[string]string, payload string) []byte {
		m := protocol.NewMessage()
		m.SetSeq(1)
		m.ServicePath, m.ServiceMethod, m.Metadata, m.Payload = path, method, md, []byte(payload)
		return m.Encode()
	}
	golden := unhex(t, goldenRequest)
	steps := []struct {
		name    string
		frame   []byte
		wantErr error
		path    string
		method  string
		md      map[string]string
		payload string
	}{
		{"two pairs", build("A", "B", map[string]string{"a": "1", "b": "2"}, "x"), nil, "A", "B", map[string]string{"a": "1", "b": "2"}, "x"},
		{"one other pair", build("A", "B", map[string]string{"c": "3"}, "y"), nil, "A", "B", map[string]string{"c": "3"}, "y"},
		{"no metadata", build("A", "C", nil, ""), nil, "A", "C", map[string]string{}, ""},
		{"pairs again", build("P", "Q", map[string]string{"a": "9"}, "z"), nil, "P", "Q", map[string]string{"a": "9"}, "z"},
		{"bad metadata", patch(golden, offMDValue, 0xFFFF), protocol.ErrMalformed, "Arith", "Mul", map[string]string{}, ""},
		{"golden", golden, nil, "Arith", "Mul", map[string]string{"k": "v"}, `{"A":11,"B":12}`},
		{"bad path", patch(golden, offPath, 0xFFFF), protocol.ErrMalformed, "", "", map[string]string{}, ""},
		{"golden again", golden, nil, "Arith", "Mul", map[string]string{"k": "v"}, `{"A":11,"B":12}`},
		{"bad method", patch(golden, offMethod, 0xFFFF), protocol.ErrMalformed, "Arith", "", map[string]string{}, ""},
		{"golden once more", golden, nil, "Arith", "Mul", map[string]string{"k": "v"}, `{"A":11,"B":12}`},
		{"truncated", golden[:40], io.ErrUnexpectedEOF, "", "", map[string]string{}, ""},
		{"golden after truncated", golden, nil, "Arith", "Mul", map[string]string{"k": "v"}, `{"A":11,"B":12}`},
		{"too large", patch(golden, offTotal, 0xFFFFFFFF), protocol.ErrMessageTooLarge, "", "", map[string]string{}, ""},
		{"golden after too large", golden, nil, "Arith", "Mul", map[string]string{"k": "v"}, `{"A":11,"B":12}`},
		{"bad magic", append([]byte{7}, golden[1:]...), protocol.ErrBadMagic, "", "", map[string]string{}, ""},
	}
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			m := protocol.NewMessage()
			for _, s := range steps {
				err := d.decode(m, s.frame, 0)
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
				}
				if m.ServicePath != s.path || m.ServiceMethod != s.method {
					t.Errorf("%s: %q.%q, want %q.%q", s.name, m.ServicePath, m.ServiceMethod, s.path, s.method)
				}
				if len(m.Metadata) != len(s.md) || !maps.Equal(m.Metadata, s.md) {
					t.Errorf("%s: metadata %v, want %v", s.name, m.Metadata, s.md)
				}
				if string(m.Payload) != s.payload {
					t.Errorf("%s: payload %q, want %q", s.name, m.Payload, s.payload)
				}
			}
		})
	}
}

func TestDecodeDuplicateMetadataKeyLastWins(t *testing.T) {
	md := []byte{}
	for _, kv := range [][2]string{{"k", "first"}, {"x", "1"}, {"k", "last"}} {
		md = binary.BigEndian.AppendUint32(md, uint32(len(kv[0])))
		md = append(md, kv[0]...)
		md = binary.BigEndian.AppendUint32(md, uint32(len(kv[1])))
		md = append(md, kv[1]...)
	}
	body := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	body = binary.BigEndian.AppendUint32(body, uint32(len(md)))
	body = append(body, md...)
	body = append(body, 0, 0, 0, 0)
	frame := append(unhex(t, "08 00 00 00 00 00 00 00 00 00 00 01"), binary.BigEndian.AppendUint32(nil, uint32(len(body)))...)
	frame = append(frame, body...)
	for _, d := range decoders {
		m := protocol.NewMessage()
		if err := d.decode(m, frame, 0); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if want := map[string]string{"k": "last", "x": "1"}; !maps.Equal(m.Metadata, want) {
			t.Errorf("%s: metadata %v, want %v", d.name, m.Metadata, want)
		}
	}
}

// TestDecodeOwnsItsMemory checks that DecodeBytes keeps no reference to its input and that
// the decoded strings do not alias the message's buffer.
func TestDecodeOwnsItsMemory(t *testing.T) {
	frame := unhex(t, goldenRequest)
	m := protocol.NewMessage()
	if err := m.DecodeBytes(frame, 0); err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0xAA
	}
	checkFields(t, m, fields{
		serialize: protocol.JSON, seq: 42, path: "Arith", method: "Mul",
		metadata: map[string]string{"k": "v"}, payload: []byte(`{"A":11,"B":12}`),
	})
	path, md := m.ServicePath, m.Metadata["k"]
	other := unhex(t, goldenResponse)
	if err := m.DecodeBytes(other, 0); err != nil {
		t.Fatal(err)
	}
	if path != "Arith" || md != "v" {
		t.Errorf("strings from the first frame changed to %q %q", path, md)
	}
}

func TestDecodeAllocs(t *testing.T) {
	m := protocol.NewMessage()
	m.SetSeq(5)
	m.ServicePath, m.ServiceMethod = "Arith", "Mul"
	m.Payload = bytes.Repeat([]byte{1}, 200)
	frame := m.Encode()
	tests := []struct {
		name   string
		decode func(d *protocol.Message) error
	}{
		{"Decode", func() func(d *protocol.Message) error {
			r := bufio.NewReader(&repeatReader{frame: frame})
			return func(d *protocol.Message) error { return d.Decode(r, 0) }
		}()},
		{"DecodeBytes", func(d *protocol.Message) error { return d.DecodeBytes(frame, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := protocol.NewMessage()
			if err := tc.decode(d); err != nil { // warm the buffers
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := tc.decode(d); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per frame, want 0", allocs)
			}
			if d.Seq() != 5 || d.ServicePath != "Arith" || len(d.Payload) != 200 {
				t.Errorf("decoded %d %q %d", d.Seq(), d.ServicePath, len(d.Payload))
			}
		})
	}
}
