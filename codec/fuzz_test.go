package codec_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/brisk-rpc/brisk/codec"
)

// checkFuzzDecodeErr fails unless err is nil or a *codec.Error from c's Decode.
func checkFuzzDecodeErr(t *testing.T, c codec.Codec, err error) {
	t.Helper()
	if err == nil {
		return
	}
	ce, ok := err.(*codec.Error)
	if !ok {
		t.Fatalf("%s Decode returned %T (%v), want *codec.Error", c.Name(), err, err)
	}
	if ce.Op != "decode" || ce.Codec != c.Name() || ce.Err == nil {
		t.Fatalf("bad error %+v", ce)
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{`{"A":11,"B":12}`, `{"C":132}`, `[1,2,3]`, `"x"`, `null`, ``, `  `, `{"A":`, `{"A":"x"}`, `[[[[[[]]]]]]`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := codec.JSON{}
		var args Args
		checkFuzzDecodeErr(t, c, c.Decode(data, &args))
		var mixed Mixed
		checkFuzzDecodeErr(t, c, c.Decode(data, &mixed))
		var v any
		err := c.Decode(data, &v)
		checkFuzzDecodeErr(t, c, err)
		if err != nil {
			return
		}
		// Whatever decodes into any encodes again, and decodes to the same thing.
		b, err := c.Encode(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		var again any
		if err := c.Decode(b, &again); err != nil || !equal(again, v) {
			t.Fatalf("round trip: %#v -> %s -> %#v, %v", v, b, again, err)
		}
	})
}

func FuzzMsgPackDecode(f *testing.F) {
	for _, s := range []string{
		"82 a1 41 0b a1 42 0c", "d3 00 00 00 00 65 53 f1 00", "93 01 a1 61 c0", "dd ffffffff",
		"df 7fffffff 01 02", "91 91 91 91 c0", "c7 02 05 aabb", "d6 ff 00000001", "c1", "",
		"82 a1 41 cb 3ff0000000000000 a1 42 c3",
	} {
		f.Add(mustHex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := codec.MsgPack{}
		var args Args
		checkFuzzDecodeErr(t, c, c.Decode(data, &args))
		var mixed Mixed
		checkFuzzDecodeErr(t, c, c.Decode(data, &mixed))
		var ints []int64
		checkFuzzDecodeErr(t, c, c.Decode(data, &ints))
		var v any
		err := c.Decode(data, &v)
		checkFuzzDecodeErr(t, c, err)
		if err != nil || v == nil {
			return
		}
		// Whatever decodes into any encodes again.
		if _, err := c.Encode(nil, v); err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
	})
}

func FuzzProtobufDecode(f *testing.F) {
	st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": "x", "c": []any{true, nil, map[string]any{"d": "e"}}})
	for _, m := range []proto.Message{st, wrapperspb.String("hi"), wrapperspb.Int64(-1), structpb.NewListValue(&structpb.ListValue{})} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x80})
	f.Add([]byte{0x0a, 0x7f, 'a'})
	f.Add([]byte{0x0a, 0x01, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := codec.Protobuf{}
		checkFuzzDecodeErr(t, c, c.Decode(data, new(wrapperspb.StringValue)))
		checkFuzzDecodeErr(t, c, c.Decode(data, new(wrapperspb.Int64Value)))
		s := new(structpb.Struct)
		err := c.Decode(data, s)
		checkFuzzDecodeErr(t, c, err)
		if err != nil {
			return
		}
		b, err := c.Encode(nil, s)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again := new(structpb.Struct)
		if err := c.Decode(b, again); err != nil || !proto.Equal(again, s) {
			t.Fatalf("round trip changed the message: %v", err)
		}
	})
}
