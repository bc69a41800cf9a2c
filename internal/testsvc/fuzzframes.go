package testsvc

import (
	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/protocol"
)

// FuzzInput reads a fuzzer's bytes; past their end it reads zeros.
type FuzzInput struct{ B []byte }

// Byte returns the next byte, or 0.
func (in *FuzzInput) Byte() byte {
	if len(in.B) == 0 {
		return 0
	}
	c := in.B[0]
	in.B = in.B[1:]
	return c
}

// Take returns the next n bytes, or fewer at the end.
func (in *FuzzInput) Take(n int) []byte {
	n = min(n, len(in.B))
	p := in.B[:n:n]
	in.B = in.B[n:]
	return p
}

// FuzzMessage fills a stream message frame m from in: its serialize type (from serials,
// which must have 8 entries), a payload of fuzzed bytes or of up to 32 padUnits of zeros,
// and gzip flags with or without a gzip payload. It returns the flags byte it read, whose
// bits 0x08, 0x40 and 0x80 it leaves to the caller.
func FuzzMessage(in *FuzzInput, m *protocol.Message, serials []protocol.SerializeType, padUnit int) byte {
	flags := in.Byte()
	m.SetSerializeType(serials[flags&7])
	if n := int(in.Byte()); n < 0xE0 {
		m.Payload = in.Take(n)
	} else {
		m.Payload = make([]byte, (n-0xDF)*padUnit)
	}
	if flags&0x10 != 0 {
		m.SetCompressType(protocol.Gzip)
		if flags&0x20 != 0 {
			m.Payload = protocol.Compress(nil, m.Payload)
		}
	}
	return flags
}

// FuzzWindow returns a window frame's payload chosen by in: grants of 0, of a few KiB and
// of the maximum, and malformed payloads (too short, too long, empty).
func FuzzWindow(in *FuzzInput) []byte {
	switch in.Byte() % 8 {
	case 0:
		return flow.WindowPayload(nil, 0)
	case 1:
		return flow.WindowPayload(nil, int64(in.Byte())<<10)
	case 2:
		return flow.WindowPayload(nil, 1<<31-1)
	case 3:
		return []byte{0xFF, 0xFF, 0xFF, 0xFF}
	case 4:
		return in.Take(4)
	case 5:
		return nil
	case 6:
		return in.Take(3)
	default:
		return in.Take(5)
	}
}
