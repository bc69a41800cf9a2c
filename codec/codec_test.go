package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/protocol"
)

type Args struct {
	A int
	B int
}

type Mixed struct {
	Name  string
	Tags  []string
	Score float64
	Attrs map[string]int
	Raw   []byte
	On    bool
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// equal compares decoded values, with proto.Equal for protobuf messages.
func equal(a, b any) bool {
	if pa, ok := a.(proto.Message); ok {
		pb, ok := b.(proto.Message)
		return ok && proto.Equal(pa, pb)
	}
	return reflect.DeepEqual(a, b)
}

func TestRoundTrip(t *testing.T) {
	st, err := structpb.NewStruct(map[string]any{"a": 1.5, "b": "x", "c": []any{true, nil}})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte{0, 1, 2, 0xFF}
	tests := []struct {
		name   string
		codec  codec.Codec
		in     any
		out    func() any // a pointer to decode into
		want   any        // what out holds after decoding; defaults to in
		golden []byte     // the exact encoding, when fixed by the protocol
	}{
		{"raw bytes", codec.Raw{}, raw, func() any { return new([]byte) }, &raw, raw},
		{"raw pointer", codec.Raw{}, &raw, func() any { return new([]byte) }, &raw, raw},
		{"raw empty", codec.Raw{}, []byte{}, func() any { return new([]byte) }, new([]byte), []byte{}},
		{"json struct", codec.JSON{}, &Args{11, 12}, func() any { return new(Args) }, nil, []byte(`{"A":11,"B":12}`)},
		{"json map", codec.JSON{}, map[string]int{"C": 132}, func() any { return new(map[string]int) }, &map[string]int{"C": 132}, []byte(`{"C":132}`)},
		{"json mixed", codec.JSON{}, &Mixed{Name: "n", Tags: []string{"a"}, Score: 0.5, Attrs: map[string]int{"x": 1}, Raw: []byte{1}, On: true}, func() any { return new(Mixed) }, nil, nil},
		{"protobuf wrapper", codec.Protobuf{}, wrapperspb.Int32(7), func() any { return new(wrapperspb.Int32Value) }, nil, []byte{0x08, 0x07}},
		{"protobuf string", codec.Protobuf{}, wrapperspb.String("héllo"), func() any { return new(wrapperspb.StringValue) }, nil, nil},
		{"protobuf struct", codec.Protobuf{}, st, func() any { return new(structpb.Struct) }, nil, nil},
		{"protobuf empty", codec.Protobuf{}, &wrapperspb.Int64Value{}, func() any { return new(wrapperspb.Int64Value) }, nil, []byte{}},
		{"msgpack struct", codec.MsgPack{}, &Args{11, 12}, func() any { return new(Args) }, nil, mustHex("82 a1 41 0b a1 42 0c")},
		{"msgpack int64", codec.MsgPack{}, int64(1700000000), func() any { return new(int64) }, ptr(int64(1700000000)), mustHex("d3 00 00 00 00 65 53 f1 00")},
		{"msgpack mixed", codec.MsgPack{}, &Mixed{Name: "n", Tags: []string{"a", "b"}, Score: math.Pi, Attrs: map[string]int{"x": -1}, Raw: []byte{9}, On: true}, func() any { return new(Mixed) }, nil, nil},
		{"msgpack nested any", codec.MsgPack{}, map[string]any{"l": []any{int8(1), "s", nil}}, func() any { return new(map[string]any) }, &map[string]any{"l": []any{int8(1), "s", nil}}, nil},
		{"thrift pair", codec.Thrift{}, &Pair{11, 12}, func() any { return new(Pair) }, nil, mustHex("08 0001 0000000b 08 0002 0000000c 00")},
		{"thrift negative", codec.Thrift{}, &Pair{math.MinInt32, -1}, func() any { return new(Pair) }, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.codec.Encode(nil, tc.in)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if tc.golden != nil && !bytes.Equal(enc, tc.golden) {
				t.Errorf("Encode = % x, want % x", enc, tc.golden)
			}
			// Encode appends: the same bytes follow a prefix, which stays intact.
			// (Protobuf maps have no fixed order, so compare what decodes, not bytes.)
			withPrefix, err := tc.codec.Encode([]byte("PRE"), tc.in)
			if err != nil || !bytes.HasPrefix(withPrefix, []byte("PRE")) || len(withPrefix) != 3+len(enc) {
				t.Fatalf("Encode onto a prefix = %q, %v", withPrefix, err)
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if tc.golden != nil && !bytes.Equal(withPrefix[3:], tc.golden) {
				t.Errorf("Encode onto a prefix = % x", withPrefix)
			}
			out := tc.out()
			if err := tc.codec.Decode(withPrefix[3:], out); err != nil || !equal(out, want) {
				t.Errorf("Decode after the prefix = %#v, %v", out, err)
			}
			out = tc.out()
			if err := tc.codec.Decode(enc, out); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !equal(out, want) {
				t.Errorf("Decode = %#v, want %#v", out, want)
			}
			// Decode must not keep the input: scribbling on it changes nothing.
			for i := range enc {
				enc[i] = 0xC1
			}
			if !equal(out, want) {
				t.Errorf("decoded value aliases the payload: %#v", out)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		t    protocol.SerializeType
		name string
	}{
		{protocol.SerializeNone, "raw"},
		{protocol.JSON, "json"},
		{protocol.ProtoBuffer, "protobuf"},
		{protocol.MsgPack, "msgpack"},
		{protocol.Thrift, "thrift"},
	}
	s := codec.NewSet()
	for _, tc := range tests {
		c, err := s.Get(tc.t)
		if err != nil {
			t.Fatalf("Get(%v): %v", tc.t, err)
		}
		if c.Name() != tc.name || tc.t.String() != tc.name {
			t.Errorf("serialize type %d: codec %q, type %q, want %q", tc.t, c.Name(), tc.t.String(), tc.name)
		}
	}
}

func checkCodecError(t *testing.T, err error, name, op string) *codec.Error {
	t.Helper()
	var ce *codec.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T (%v) is not a *codec.Error", err, err)
	}
	if ce.Codec != name || ce.Op != op || ce.Err == nil {
		t.Errorf("Error{Codec: %q, Op: %q, Err: %v}, want codec %q op %q", ce.Codec, ce.Op, ce.Err, name, op)
	}
	if want := "brisk/codec: " + name + " " + op + ": "; !strings.HasPrefix(ce.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", ce.Error(), want)
	}
	if errors.Unwrap(ce) != ce.Err {
		t.Error("Unwrap does not return Err")
	}
	return ce
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		codec codec.Codec
		v     any
		cause error // when the underlying error is known
	}{
		{"raw string", codec.Raw{}, "text", nil},
		{"raw int", codec.Raw{}, 5, nil},
		{"raw *string", codec.Raw{}, new(string), nil},
		{"json channel", codec.JSON{}, make(chan int), nil},
		{"json func field", codec.JSON{}, struct{ F func() }{func() {}}, nil},
		{"json NaN", codec.JSON{}, math.NaN(), nil},
		{"protobuf non-message", codec.Protobuf{}, &Args{}, nil},
		{"protobuf nil", codec.Protobuf{}, nil, nil},
		{"protobuf invalid utf-8", codec.Protobuf{}, wrapperspb.String("\xff"), nil},
		{"msgpack channel", codec.MsgPack{}, make(chan int), nil},
		{"msgpack func in map", codec.MsgPack{}, map[string]any{"f": func() {}}, nil},
		{"thrift non-struct", codec.Thrift{}, &Args{}, nil},
		{"thrift write fails", codec.Thrift{}, failingStruct{}, errWriteFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := tc.codec.Encode(dst, tc.v)
			checkCodecError(t, err, tc.codec.Name(), "encode")
			if string(out) != "keep" {
				t.Errorf("on error Encode returned %q, want dst unchanged", out)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		codec codec.Codec
		data  []byte
		v     any
	}{
		{"raw into string", codec.Raw{}, []byte("x"), new(string)},
		{"raw into []byte value", codec.Raw{}, []byte("x"), []byte{}},
		{"raw into nil *[]byte", codec.Raw{}, []byte("x"), (*[]byte)(nil)},
		{"raw into nil", codec.Raw{}, []byte("x"), nil},
		{"json invalid", codec.JSON{}, []byte(`{"A":`), new(Args)},
		{"json wrong type", codec.JSON{}, []byte(`{"A":"eleven"}`), new(Args)},
		{"json non-pointer", codec.JSON{}, []byte(`{"A":1}`), Args{}},
		{"json nil", codec.JSON{}, []byte(`{}`), nil},
		{"json trailing garbage", codec.JSON{}, []byte(`{} x`), new(Args)},
		{"protobuf non-message", codec.Protobuf{}, []byte{8, 1}, new(Args)},
		{"protobuf truncated varint", codec.Protobuf{}, []byte{0x08, 0x80}, new(wrapperspb.Int32Value)},
		{"protobuf length overrun", codec.Protobuf{}, []byte{0x0a, 0x7f, 'a'}, new(wrapperspb.StringValue)},
		{"protobuf invalid utf-8", codec.Protobuf{}, []byte{0x0a, 0x01, 0xff}, new(wrapperspb.StringValue)},
		{"protobuf field 0", codec.Protobuf{}, []byte{0x00, 0x01}, new(structpb.Struct)},
		{"msgpack truncated", codec.MsgPack{}, mustHex("82 a1 41"), new(Args)},
		{"msgpack wrong type", codec.MsgPack{}, mustHex("a3 61 62 63"), new(int)},
		{"msgpack non-pointer", codec.MsgPack{}, mustHex("01"), Args{}},
		{"msgpack nil", codec.MsgPack{}, mustHex("01"), nil},
		{"msgpack never-used byte", codec.MsgPack{}, mustHex("c1"), new(any)},
		{"thrift non-struct", codec.Thrift{}, []byte{0}, new(Args)},
		{"thrift empty", codec.Thrift{}, nil, new(Pair)},
		{"thrift truncated", codec.Thrift{}, mustHex("08 0001 0000"), new(Pair)},
		{"thrift bad type", codec.Thrift{}, mustHex("63 0001"), new(Pair)},
		{"thrift string over the data", codec.Thrift{}, mustHex("0b 0003 7fffffff 61"), new(Pair)},
		{"thrift list over the data", codec.Thrift{}, mustHex("0f 0003 08 7fffffff"), new(Pair)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.codec.Decode(tc.data, tc.v)
			checkCodecError(t, err, tc.codec.Name(), "decode")
		})
	}
}

// TestDecodeEmpty pins down what each codec does with an empty payload: rpcx senders
// send one for a nil reply.
func TestDecodeEmpty(t *testing.T) {
	tests := []struct {
		name    string
		codec   codec.Codec
		v       any
		wantErr bool
		check   func(v any) bool
	}{
		{"raw", codec.Raw{}, &[]byte{1, 2}, false, func(v any) bool { return len(*v.(*[]byte)) == 0 }},
		{"json leaves v", codec.JSON{}, &Args{1, 2}, false, func(v any) bool { return *v.(*Args) == Args{1, 2} }},
		{"json whitespace leaves v", codec.JSON{}, &Args{1, 2}, false, func(v any) bool { return *v.(*Args) == Args{1, 2} }},
		{"msgpack leaves v", codec.MsgPack{}, &Args{1, 2}, false, func(v any) bool { return *v.(*Args) == Args{1, 2} }},
		{"protobuf resets v", codec.Protobuf{}, wrapperspb.Int32(5), false, func(v any) bool { return v.(*wrapperspb.Int32Value).GetValue() == 0 }},
		{"thrift fails", codec.Thrift{}, new(Pair), true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte{}
			if strings.Contains(tc.name, "whitespace") {
				data = []byte(" \n\t")
			}
			err := tc.codec.Decode(data, tc.v)
			if tc.wantErr {
				checkCodecError(t, err, tc.codec.Name(), "decode")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(tc.v) {
				t.Errorf("after decoding nothing: %#v", tc.v)
			}
		})
	}
}

func TestRawNil(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"untyped nil", nil},
		{"nil slice", []byte(nil)},
		{"nil pointer", (*[]byte)(nil)},
		{"pointer to nil", new([]byte)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := codec.Raw{}.Encode([]byte("d"), tc.v)
			if err != nil || string(out) != "d" {
				t.Errorf("Encode(%#v) = %q, %v", tc.v, out, err)
			}
		})
	}
}

func TestRawDecodeReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	b := buf
	if err := (codec.Raw{}).Decode([]byte("hello"), &b); err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello" || &b[0] != &buf[:1][0] {
		t.Errorf("Decode did not reuse the destination's capacity: %q", b)
	}
}

func TestMsgPackEncodeAppends(t *testing.T) {
	tests := []struct {
		name string
		dst  []byte
	}{
		{"nil", nil},
		{"empty with room", make([]byte, 0, 100)},
		{"non-empty, no room", []byte{1, 2, 3}},
		{"non-empty with room", append(make([]byte, 0, 100), 1, 2, 3)},
		{"non-empty, room for part", append(make([]byte, 0, 5), 1, 2, 3)},
	}
	want := mustHex("82 a1 41 0b a1 42 0c")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := bytes.Clone(tc.dst)
			out, err := codec.MsgPack{}.Encode(tc.dst, &Args{11, 12})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, append(prefix, want...)) {
				t.Errorf("Encode = % x, want % x then % x", out, prefix, want)
			}
			if cap(tc.dst)-len(tc.dst) >= len(want) && &out[0] != &tc.dst[:1][0] {
				t.Error("Encode reallocated although dst had room")
			}
			// A second encode onto the result appends again.
			out2, err := codec.MsgPack{}.Encode(out, true)
			if err != nil || !bytes.Equal(out2, append(append(prefix, want...), 0xc3)) {
				t.Errorf("second Encode = % x, %v", out2, err)
			}
		})
	}
}

// TestMsgPackConcurrent runs the pooled encoder from many goroutines; the race detector
// checks that no pooled state is shared.
func TestMsgPackConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				in := Args{g, i}
				b, err := codec.MsgPack{}.Encode([]byte{byte(g)}, &in)
				if err != nil {
					errs <- err
					return
				}
				var out Args
				if err := (codec.MsgPack{}).Decode(b[1:], &out); err != nil || out != in || b[0] != byte(g) {
					errs <- errors.New("msgpack round trip under concurrency failed")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestJSONRPCXCompatible(t *testing.T) {
	// rpcx's JSON codec is encoding/json: no trailing newline, HTML escaping on.
	out, err := codec.JSON{}.Encode(nil, map[string]string{"s": "<&>"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"s":"\u003c\u0026\u003e"}`; string(out) != want {
		t.Errorf("JSON = %s, want %s", out, want)
	}
}

// TestNilPointers: a caller passing a typed nil pointer gets an error, not a panic in the
// goroutine that decodes (a client's read loop, which would take the process down).
func TestNilPointers(t *testing.T) {
	tests := []struct {
		name  string
		codec codec.Codec
		data  []byte
		v     any
	}{
		{"protobuf", codec.Protobuf{}, []byte{0x08, 0x01}, (*wrapperspb.Int32Value)(nil)},
		{"protobuf empty payload", codec.Protobuf{}, nil, (*structpb.Struct)(nil)},
		{"thrift", codec.Thrift{}, mustHex("08 0001 0000000b 00"), (*Pair)(nil)},
		{"json", codec.JSON{}, []byte(`{"A":1}`), (*Args)(nil)},
		{"msgpack", codec.MsgPack{}, mustHex("81 a1 41 01"), (*Args)(nil)},
		{"raw", codec.Raw{}, []byte("x"), (*[]byte)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name+" decode", func(t *testing.T) {
			checkCodecError(t, tc.codec.Decode(tc.data, tc.v), tc.codec.Name(), "decode")
		})
	}
	// Encoding a nil thrift struct fails cleanly; a nil protobuf message is the empty message.
	_, err := codec.Thrift{}.Encode(nil, (*Pair)(nil))
	checkCodecError(t, err, "thrift", "encode")
	b, err := codec.Protobuf{}.Encode([]byte("x"), (*wrapperspb.Int32Value)(nil))
	if err != nil || string(b) != "x" {
		t.Errorf("protobuf Encode(nil message) = %q, %v", b, err)
	}
}

// heapAlloc runs f and returns how many bytes it allocated.
func heapAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMsgPackHostileLengths feeds MsgPack payloads that claim far more elements than they
// hold. The msgpack library would allocate the claimed size (tens of gigabytes for 5 bytes);
// Decode must refuse them cheaply.
func TestMsgPackHostileLengths(t *testing.T) {
	type withSlice struct{ Items []int64 }
	tests := []struct {
		name string
		data []byte
		v    func() any
	}{
		{"array32 of 2^32-1 into []int64", mustHex("dd ffffffff"), func() any { return new([]int64) }},
		{"array32 of 2^24 into []int64", mustHex("dd 01000000"), func() any { return new([]int64) }},
		{"array32 of 2^32-1 into any", mustHex("dd ffffffff c0"), func() any { return new(any) }},
		{"array32 of 2^24 into []any", mustHex("dd 01000000 01 02"), func() any { return new([]any) }},
		{"array16 of 65535 into []Args", mustHex("dc ffff 80"), func() any { return new([]Args) }},
		{"in a struct field", mustHex("81 a5 4974656d73 dd 7fffffff"), func() any { return new(withSlice) }},
		{"map32 of 2^32-1 into any", mustHex("df ffffffff"), func() any { return new(any) }},
		{"map32 of 2^31 into map", mustHex("df 80000000 a1 61 01"), func() any { return new(map[string]int) }},
		{"str32 of 2^32-1", mustHex("db ffffffff 61"), func() any { return new(string) }},
		{"bin32 of 2^32-1", mustHex("c6 ffffffff 61"), func() any { return new([]byte) }},
		{"ext32 of 2^32-1", mustHex("c9 ffffffff 01"), func() any { return new(any) }},
		{"nested array lengths add up past the data", mustHex("92 dd 00000010 c0 c0"), func() any { return new(any) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			alloc := heapAlloc(func() { err = codec.MsgPack{}.Decode(tc.data, tc.v()) })
			checkCodecError(t, err, "msgpack", "decode")
			if alloc > 1<<20 {
				t.Errorf("a %d-byte payload allocated %d bytes", len(tc.data), alloc)
			}
		})
	}
}

// TestMsgPackDeepNesting: the msgpack library recurses once per level, so without a limit a
// 16 MiB payload of nested arrays overflows the stack and kills the process.
func TestMsgPackDeepNesting(t *testing.T) {
	nested := func(depth int) []byte {
		return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"depth 100", nested(100), false},
		{"depth 10000", nested(10000), false},
		{"depth 10001", nested(10001), true},
		{"depth 16M", nested(16 << 20), true},
		{"maps 20000 deep", append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 20000), 0xc0), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			err := codec.MsgPack{}.Decode(tc.data, &v)
			if tc.wantErr {
				checkCodecError(t, err, "msgpack", "decode")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := v.([]any); !ok {
				t.Errorf("decoded %T", v)
			}
		})
	}
}

// TestMsgPackLegitimateLargeArray checks that the length check does not reject real data.
func TestMsgPackLegitimateLargeArray(t *testing.T) {
	in := make([]int64, 100000)
	for i := range in {
		in[i] = int64(i * i)
	}
	in[5] = math.MaxInt64
	b, err := codec.MsgPack{}.Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	if err := (codec.MsgPack{}).Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Error("large array round trip differs")
	}
	// Trailing bytes after the value are ignored, as msgpack.Unmarshal ignores them.
	var one int
	if err := (codec.MsgPack{}).Decode(mustHex("07 ff ff"), &one); err != nil || one != 7 {
		t.Errorf("value with trailing bytes: %d, %v", one, err)
	}
}
