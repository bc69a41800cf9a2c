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

// Error implements the error interface.
func (e *FrameError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
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
// error wrapping io.ErrUnexpectedEOF; a frame that breaks the format returns a *FrameError;
// any other error from r (a deadline, a closed connection) is returned as is.
//
// Decode allocates nothing when m's buffers are large enough and the frame repeats the
// previous frame's service path and method and carries no metadata, as most frames do.
//
// When Decode fails, m holds no stale data: if the header was read it is kept (so that a
// server can answer a malformed request by its seq), the path and method are kept only if
// they could be read, and the metadata and payload are empty.
func (m *Message) Decode(r *bufio.Reader, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	// Peek rather than io.ReadFull into a local array, which would escape to the heap.
	prefix, err := r.Peek(HeaderSize)
	if err != nil {
		if len(prefix) == 0 {
			return err // io.EOF at a frame boundary, or r's own error
		}
		m.clearAll()
		if err == io.EOF {
			return &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame header cut short"}
		}
		return err
	}
	copy(m.Header[:], prefix[:12])
	total := uint64(binary.BigEndian.Uint32(prefix[12:]))
	_, _ = r.Discard(HeaderSize) // cannot fail: the bytes are buffered
	m.clearBody()
	if !m.CheckMagic() {
		m.clearAll()
		return frameErr(ErrBadMagic, "got 0x%02x", m.Header[0])
	}
	if total > uint64(maxSize) {
		m.clearAll()
		return frameErr(ErrMessageTooLarge, "body of %d bytes, limit %d", total, maxSize)
	}
	body, err := readBody(r, m.body[:0], int(total))
	m.body = body
	if err != nil {
		m.clearAll()
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
			return buf[:0], bodyErr(err)
		}
		return buf, nil
	}
	for len(buf) < n {
		chunk := min(n-len(buf), max(len(buf), largeFrame))
		buf = append(buf, make([]byte, chunk)...)
		if _, err := io.ReadFull(r, buf[len(buf)-chunk:]); err != nil {
			return buf[:0], bodyErr(err)
		}
	}
	return buf, nil
}

func bodyErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame body cut short"}
	}
	return err
}

// DecodeBytes decodes one complete frame held in data. The message keeps no reference to
// data. It is meant for transports that deliver whole frames and for tests.
//
// Data shorter than its length field says returns an error wrapping io.ErrUnexpectedEOF;
// data longer than that returns one wrapping ErrMalformed. Other errors are as for Decode.
func (m *Message) DecodeBytes(data []byte, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(data) < HeaderSize {
		m.clearAll()
		return &FrameError{Err: io.ErrUnexpectedEOF, Detail: "frame header cut short"}
	}
	copy(m.Header[:], data[:12])
	m.clearBody()
	if !m.CheckMagic() {
		m.clearAll()
		return frameErr(ErrBadMagic, "got 0x%02x", data[0])
	}
	total := uint64(binary.BigEndian.Uint32(data[12:]))
	if total > uint64(maxSize) {
		m.clearAll()
		return frameErr(ErrMessageTooLarge, "body of %d bytes, limit %d", total, maxSize)
	}
	switch have := uint64(len(data) - HeaderSize); {
	case have < total:
		m.clearAll()
		return frameErr(io.ErrUnexpectedEOF, "body length field %d, but only %d bytes follow", total, have)
	case have > total:
		m.clearAll()
		return frameErr(ErrMalformed, "body length field %d, but %d bytes follow", total, have)
	}
	m.body = append(m.body[:0], data[HeaderSize:]...)
	return m.parseBody(m.body, maxSize)
}

// clearBody empties the metadata and payload. The path and method are left for parseBody,
// which keeps the previous strings when a frame repeats them.
func (m *Message) clearBody() {
	if len(m.Metadata) > 0 {
		clear(m.Metadata)
	}
	m.Payload = nil
}

// clearAll empties everything but the header, for a frame whose body was never parsed.
func (m *Message) clearAll() {
	m.clearBody()
	m.ServicePath, m.ServiceMethod = "", ""
}

// parseBody splits body into path, method, metadata and payload, checking every length.
// m's metadata and payload must be empty already (see clearBody); on error they stay so.
func (m *Message) parseBody(body []byte, maxSize int) error {
	path, rest, err := lengthPrefixed(body, "service path")
	if err != nil {
		m.ServicePath, m.ServiceMethod = "", ""
		return err
	}
	// Reuse the previous strings when a connection repeats itself, as it nearly always does:
	// this saves two allocations per frame.
	if string(path) != m.ServicePath {
		if string(path) == StreamService {
			m.ServicePath = StreamService // stream frames come in fresh pooled messages
		} else {
			m.ServicePath = string(path)
		}
	}
	method, rest, err := lengthPrefixed(rest, "service method")
	if err != nil {
		m.ServiceMethod = ""
		return err
	}
	if string(method) != m.ServiceMethod {
		m.ServiceMethod = internStreamKind(m.ServicePath, method)
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
	if err := m.decodeMetadata(md); err != nil {
		clear(m.Metadata)
		return err
	}
	switch m.CompressType() {
	case None:
		m.Payload = payload
	case Gzip:
		out, err := Decompress(m.zbuf[:0], payload, maxSize)
		m.zbuf = out
		if err != nil {
			clear(m.Metadata)
			return err
		}
		m.Payload = out
	default:
		clear(m.Metadata)
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
