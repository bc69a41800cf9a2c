package codec_test

import (
	"testing"

	"github.com/brisk-rpc/brisk/codec"
)

func BenchmarkMsgPackEncode(b *testing.B) {
	tests := []struct {
		name string
		v    any
	}{
		{"struct", &Args{11, 12}},
		{"mixed", &Mixed{Name: "brisk", Tags: []string{"a", "b"}, Score: 1.5, Attrs: map[string]int{"x": 1}, Raw: []byte("raw"), On: true}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = codec.MsgPack{}.Encode(buf[:0], tc.v)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMsgPackDecode(b *testing.B) {
	data, err := codec.MsgPack{}.Encode(nil, &Args{11, 12})
	if err != nil {
		b.Fatal(err)
	}
	var out Args
	b.ReportAllocs()
	for b.Loop() {
		if err := (codec.MsgPack{}).Decode(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONEncode(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = codec.JSON{}.Encode(buf[:0], &Args{11, 12})
		if err != nil {
			b.Fatal(err)
		}
	}
}
