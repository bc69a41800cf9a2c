package protocol_test

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// benchMessage is a typical call: a short path and method and a small payload.
func benchMessage(withMetadata bool) *protocol.Message {
	m := protocol.NewMessage()
	m.SetSerializeType(protocol.MsgPack)
	m.SetSeq(12345)
	m.ServicePath = "Arith"
	m.ServiceMethod = "Mul"
	if withMetadata {
		m.Metadata = map[string]string{protocol.ServerTimeout: "1000"}
	}
	m.Payload = bytes.Repeat([]byte{0xAB}, 128)
	return m
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, md := range []bool{false, true} {
		name := "no-metadata"
		if md {
			name = "metadata"
		}
		b.Run(name, func(b *testing.B) {
			m := benchMessage(md)
			buf := make([]byte, 0, m.EncodedSize())
			b.ReportAllocs()
			b.SetBytes(int64(m.EncodedSize()))
			for b.Loop() {
				buf = m.AppendFrame(buf[:0])
			}
		})
	}
}

// repeatReader serves the same frame forever.
type repeatReader struct {
	frame []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.frame)
	}
	return n, nil
}

var _ io.Reader = (*repeatReader)(nil)

func BenchmarkDecode(b *testing.B) {
	for _, md := range []bool{false, true} {
		name := "no-metadata"
		if md {
			name = "metadata"
		}
		b.Run(name, func(b *testing.B) {
			frame := benchMessage(md).Encode()
			r := bufio.NewReaderSize(&repeatReader{frame: frame}, 64<<10)
			m := protocol.NewMessage()
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if err := m.Decode(r, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("DecodeBytes", func(b *testing.B) {
		frame := benchMessage(false).Encode()
		m := protocol.NewMessage()
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if err := m.DecodeBytes(frame, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gzip", func(b *testing.B) {
		m := benchMessage(false)
		m.Payload = protocol.Compress(nil, bytes.Repeat([]byte("brisk "), 1000))
		m.SetCompressType(protocol.Gzip)
		frame := m.Encode()
		r := bufio.NewReaderSize(&repeatReader{frame: frame}, 64<<10)
		d := protocol.NewMessage()
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if err := d.Decode(r, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
