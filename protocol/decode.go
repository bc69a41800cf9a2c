package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors; every decoding error wraps one of them (test with errors.Is).
var (
	// ErrBadMagic means a frame did not start with MagicNumber.
	ErrBadMagic = errors.New("brisk/protocol: bad magic number")
	// ErrMessageTooLarge means a frame's declared length is over the reader's limit.
	ErrMessageTooLarge = errors.New("brisk/protocol: message too large")
	// ErrMalformed means a frame's inner lengths do not add up to its body.
	ErrMalformed = errors.New("brisk/protocol: malformed frame")
	// ErrUnknownCompressType means the flags name a compression brisk does not know.
	ErrUnknownCompressType = errors.New("brisk/protocol: unknown compress type")
	// ErrDecompressedTooLarge means a compressed payload inflates past the reader's limit.
	ErrDecompressedTooLarge = errors.New("brisk/protocol: decompressed payload too large")
	// ErrBadCompressedData means a compressed payload could not be decompressed.
	ErrBadCompressedData = errors.New("brisk/protocol: bad compressed payload")
)

// FrameError describes why a frame was rejected. It wraps one of the sentinel errors, or
// io.ErrUnexpectedEOF for a frame cut short.
type FrameError struct {
	Err    error  // the sentinel (or io.ErrUnexpectedEOF)
	Detail string // what exactly was wrong
}

func (e *FrameError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *FrameError) Unwrap() error { return e.Err }

func frameErr(err error, format string, args ...any) error {
	return &FrameError{Err: err, Detail: fmt.Sprintf(format, args...)}
}

// largeFrame is the size above which Decode grows its buffer as bytes arrive instead of
// allocating the declared length at once, so a peer that lies about a length and then
// stalls costs little memory.
const largeFrame = 1 << 20

// Decode reads one frame from r into m, replacing its contents. maxSize bounds both the
// frame body and the decompressed payload; 0 or less means DefaultMaxMessageSize.
//
// A clean end of stream before the first byte returns io.EOF; a frame cut short returns an
// error wrapping io.ErrUnexpectedEOF; a frame that breaks the format returns a *FrameError.
func (m *Message) Decode(r *bufio.Reader, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	var prefix [HeaderSize]byte
	if n, err := io.ReadFull(r, prefix[:]); err != nil {
		if err == io.EOF || n == 0 {
			return err
		}
		return &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame header cut short"}
	}
	copy(m.Header[:], prefix[:12])
	if !m.CheckMagic() {
		return frameErr(ErrBadMagic, "got 0x%02x", prefix[0])
	}
	total := uint64(binary.BigEndian.Uint32(prefix[12:]))
	if total > uint64(maxSize) {
		return frameErr(ErrMessageTooLarge, "body of %d bytes, limit %d", total, maxSize)
	}
	body, err := readBody(r, m.body[:0], int(total))
	m.body = body
	if err != nil {
		return err
	}
	return m.parseBody(body, maxSize)
}

func readBody(r *bufio.Reader, buf []byte, n int) ([]byte, error) {
	if n <= largeFrame || cap(buf) >= n {
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return buf[:0], &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame body cut short"}
		}
		return buf, nil
	}
	for len(buf) < n {
		chunk := min(n-len(buf), max(len(buf), largeFrame))
		buf = append(buf, make([]byte, chunk)...)
		if _, err := io.ReadFull(r, buf[len(buf)-chunk:]); err != nil {
			return buf[:0], &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame body cut short"}
		}
	}
	return buf, nil
}

// DecodeBytes decodes one complete frame held in data. The message keeps no reference to
// data. It is meant for transports that deliver whole frames and for tests.
func (m *Message) DecodeBytes(data []byte, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(data) < HeaderSize {
		return &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame header cut short"}
	}
	copy(m.Header[:], data[:12])
	if !m.CheckMagic() {
		return frameErr(ErrBadMagic, "got 0x%02x", data[0])
	}
	total := uint64(binary.BigEndian.Uint32(data[12:]))
	if total > uint64(maxSize) {
		return frameErr(ErrMessageTooLarge, "body of %d bytes, limit %d", total, maxSize)
	}
	if uint64(len(data)-HeaderSize) != total {
		return frameErr(ErrMalformed, "body length field %d, but %d bytes follow", total, len(data)-HeaderSize)
	}
	m.body = append(m.body[:0], data[HeaderSize:]...)
	return m.parseBody(m.body, maxSize)
}

// parseBody splits body into path, method, metadata and payload, checking every length.
func (m *Message) parseBody(body []byte, maxSize int) error {
	rest := body
	path, rest, err := lengthPrefixed(rest, "service path")
	if err != nil {
		return err
	}
	method, rest, err := lengthPrefixed(rest, "service method")
	if err != nil {
		return err
	}
	md, rest, err := lengthPrefixed(rest, "metadata")
	if err != nil {
		return err
	}
	payload, rest, err := lengthPrefixed(rest, "payload")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return frameErr(ErrMalformed, "%d bytes after the payload", len(rest))
	}
	// Reuse the previous strings when a connection repeats itself, as it nearly always does:
	// this saves two allocations per frame.
	if string(path) != m.ServicePath {
		m.ServicePath = string(path)
	}
	if string(method) != m.ServiceMethod {
		m.ServiceMethod = string(method)
	}
	if err := m.decodeMetadata(md); err != nil {
		return err
	}
	m.Payload = payload
	switch m.CompressType() {
	case None:
	case Gzip:
		out, err := Decompress(m.zbuf[:0], payload, maxSize)
		m.zbuf = out
		if err != nil {
			return err
		}
		m.Payload = out
	default:
		return frameErr(ErrUnknownCompressType, "type %d", m.CompressType())
	}
	return nil
}

func lengthPrefixed(b []byte, what string) (field, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, frameErr(ErrMalformed, "%s length cut short", what)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n > uint64(len(b)-4) {
		return nil, nil, frameErr(ErrMalformed, "%s length %d overruns the frame (%d bytes left)", what, n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

func (m *Message) decodeMetadata(b []byte) error {
	if len(m.Metadata) > 0 {
		clear(m.Metadata)
	}
	for len(b) > 0 {
		k, rest, err := lengthPrefixed(b, "metadata key")
		if err != nil {
			return err
		}
		v, rest, err := lengthPrefixed(rest, "metadata value")
		if err != nil {
			return err
		}
		if m.Metadata == nil {
			m.Metadata = make(map[string]string, 4)
		}
		m.Metadata[string(k)] = string(v)
		b = rest
	}
	return nil
}
