package protocol_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// fuzzMaxSize keeps the fuzzer from spending its time on huge allocations.
const fuzzMaxSize = 64 << 10

// decodeErrors are the errors a decoder may return on any input.
var decodeErrors = []error{
	io.EOF, io.ErrUnexpectedEOF, protocol.ErrBadMagic, protocol.ErrMessageTooLarge,
	protocol.ErrMalformed, protocol.ErrUnknownCompressType, protocol.ErrDecompressedTooLarge,
	protocol.ErrBadCompressedData,
}

func isDecodeError(err error) bool {
	for _, e := range decodeErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sameMessage(a, b *protocol.Message) bool {
	return a.Header == b.Header && a.ServicePath == b.ServicePath && a.ServiceMethod == b.ServiceMethod &&
		len(a.Metadata) == len(b.Metadata) && maps.Equal(a.Metadata, b.Metadata) && bytes.Equal(a.Payload, b.Payload)
}

func fuzzSeeds(f *testing.F) {
	golden := unhex(f, goldenRequest)
	for _, tc := range goldenCases(f) {
		f.Add(tc.frame)
	}
	f.Add(gzipFrame(protocol.Compress(nil, bytes.Repeat([]byte("fuzz"), 300))))
	f.Add(gzipFrame([]byte("not gzip")))
	f.Add([]byte{})
	f.Add(golden[:1])
	f.Add(golden[:16])
	f.Add(golden[:40])
	f.Add(append(bytes.Clone(golden), golden...))
	f.Add(patch(golden, offTotal, 0xFFFFFFFF))
	f.Add(patch(golden, offPath, 0xFFFFFFFF))
	f.Add(patch(golden, offMethod, 100))
	f.Add(patch(golden, offMetadata, 9))
	f.Add(patch(golden, offMDKey, 7))
	f.Add(patch(golden, offMDValue, 2))
	f.Add(patch(golden, offPayload, 14))
	f.Add(append(patch(golden, offTotal, 50), 0))
	f.Add(append([]byte{0x09}, golden[1:]...))
	bad := bytes.Clone(golden)
	bad[2] = 0x1C
	f.Add(bad)
}

func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := protocol.NewMessage()
		br := bufio.NewReader(bytes.NewReader(data))
		err := m.Decode(br, fuzzMaxSize)
		if err != nil && !isDecodeError(err) {
			t.Fatalf("Decode: unexpected error %T %v", err, err)
		}
		rest, _ := io.ReadAll(br)
		consumed := len(data) - len(rest)

		b := protocol.NewMessage()
		errB := b.DecodeBytes(data, fuzzMaxSize)
		if errB != nil && !isDecodeError(errB) {
			t.Fatalf("DecodeBytes: unexpected error %T %v", errB, errB)
		}
		// The two decoders agree on a whole frame.
		if errB == nil && (err != nil || !sameMessage(m, b)) {
			t.Fatalf("DecodeBytes succeeded, Decode: %v, same %v", err, err == nil && sameMessage(m, b))
		}
		if err == nil && consumed == len(data) && errB != nil {
			t.Fatalf("Decode read the whole input, DecodeBytes failed: %v", errB)
		}
		if err != nil {
			if len(m.Metadata) != 0 || m.Payload != nil {
				t.Fatalf("failed Decode left metadata %v payload %q", m.Metadata, m.Payload)
			}
			return
		}

		// Re-encode: the payload is decompressed, so compress it again if the flags say so.
		re := m.Clone()
		if re.CompressType() == protocol.Gzip {
			re.Payload = protocol.Compress(nil, re.Payload)
		}
		frame := re.Encode()
		if len(frame) != re.EncodedSize() {
			t.Fatalf("Encode wrote %d bytes, EncodedSize says %d", len(frame), re.EncodedSize())
		}
		again := protocol.NewMessage()
		if err := again.DecodeBytes(frame, 0); err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !sameMessage(again, m) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", again, m)
		}
		if err := again.Decode(bufio.NewReader(bytes.NewReader(frame)), 0); err != nil || !sameMessage(again, m) {
			t.Fatalf("re-encoded frame through Decode: %v", err)
		}
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add(protocol.Compress(nil, nil), 0)
	f.Add(protocol.Compress(nil, []byte("hello")), 5)
	f.Add(protocol.Compress(nil, []byte("hello")), 4)
	f.Add(protocol.Compress(nil, bytes.Repeat([]byte{0}, 100000)), 1000)
	f.Add(append(protocol.Compress(nil, []byte("a")), protocol.Compress(nil, []byte("b"))...), 10)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, 10)
	f.Add([]byte("garbage"), 100)
	f.Fuzz(func(t *testing.T, src []byte, limit int) {
		limit = min(max(limit, -1), fuzzMaxSize)
		dst := []byte("prefix")
		out, err := protocol.Decompress(dst, src, limit)
		if !bytes.Equal(out[:min(len(out), 6)], []byte("prefix")) {
			t.Fatalf("dst prefix clobbered: %q", out)
		}
		if err != nil {
			if !errors.Is(err, protocol.ErrBadCompressedData) && !errors.Is(err, protocol.ErrDecompressedTooLarge) {
				t.Fatalf("unexpected error %T %v", err, err)
			}
			if len(out) != 6 {
				t.Fatalf("on error, %d bytes returned", len(out))
			}
			return
		}
		data := out[6:]
		if len(data) > max(limit, 0) {
			t.Fatalf("%d bytes out with a limit of %d", len(data), limit)
		}
		back, err := protocol.Decompress(nil, protocol.Compress(nil, data), len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("recompressed round trip: %v", err)
		}
	})
}
