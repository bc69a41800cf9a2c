package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/codec"
)

// ClientOption configures one Upload or Download.
type ClientOption func(*clientConfig)

type clientConfig struct {
	resume    bool
	offset    int64
	progress  func(done, total int64)
	chunkSize int
}

// Resume continues an interrupted transfer. Upload asks the server where its partial file
// ends and sends from there; Download starts at the end of w, which must then be an
// io.Seeker (w is moved to its end). It overrides Offset.
func Resume() ClientOption { return func(c *clientConfig) { c.resume = true } }

// Offset starts the transfer at byte n. Upload: the server keeps the first n bytes of its
// partial file (ErrOffset if it has fewer) and r is read from n on. Download: the server
// sends from n on and w receives those bytes at its current position (place it yourself).
func Offset(n int64) ClientOption { return func(c *clientConfig) { c.offset = n } }

// Progress has f called with the bytes done (counting from byte 0, so a resumed transfer
// starts above 0) and the file's total size: once when the transfer starts and then after
// each chunk, from the calling goroutine. done never decreases and ends at total when the
// transfer succeeds. f may cancel the transfer's context.
func Progress(f func(done, total int64)) ClientOption {
	return func(c *clientConfig) { c.progress = f }
}

// ChunkSize sets the size of the chunks Upload sends (default DefaultChunkSize, at most
// MaxChunkSize). Download's chunks are the server's (WithChunkSize).
func ChunkSize(n int) ClientOption { return func(c *clientConfig) { c.chunkSize = n } }

func clientOptions(opts []ClientOption) (clientConfig, error) {
	cfg := clientConfig{chunkSize: DefaultChunkSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.offset < 0 {
		return cfg, fmt.Errorf("%w: negative offset %d", ErrOffset, cfg.offset)
	}
	if cfg.chunkSize <= 0 || cfg.chunkSize > MaxChunkSize {
		return cfg, fmt.Errorf("brisk/transfer: chunk size %d not in 1..%d", cfg.chunkSize, MaxChunkSize)
	}
	return cfg, nil
}

func (c *clientConfig) report(done, total int64) {
	if c.progress != nil {
		c.progress(done, total)
	}
}

// Result describes a completed transfer.
type Result struct {
	// Size is the file's total size.
	Size int64
	// Offset is where this transfer started: 0, or where a resumed transfer continued.
	// Size-Offset bytes crossed the network.
	Offset int64
	// SHA256 is the whole file's digest, as the server computed it.
	SHA256 [sha256.Size]byte
	// Verified says the digest was checked end to end: always for an upload (the server
	// checked the client's digest); for a download when the whole file's digest was
	// computed locally (the download started at 0, or w is an io.ReaderAt whose first
	// Offset bytes were read back).
	Verified bool
}

// Upload sends size bytes of r to the file name of the transfer service registered as
// service on the server c is connected to. The file appears under name only when every
// byte arrived and the server's SHA-256 matches the one computed from r; until then the
// server keeps what arrived as a partial file, which Upload with Resume continues.
//
// It returns ErrReadOnly, ErrTooLarge, ErrBadName, ErrDenied or ErrOffset before sending
// any data when the server refuses, ErrChecksum when the stored file differs from r (when
// r changed between an interrupted upload and its resumption), the context's error when
// ctx ends, and a *client.TransportError when the connection fails.
func Upload(ctx context.Context, c *client.Client, service, name string, r io.ReaderAt, size int64, opts ...ClientOption) (Result, error) {
	cfg, err := clientOptions(opts)
	if err != nil {
		return Result{}, err
	}
	if size < 0 {
		return Result{}, fmt.Errorf("brisk/transfer: negative size %d", size)
	}
	st, err := c.NewStream(ctx, service+".Upload")
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if err := st.Send(&UploadRequest{Name: name, Size: size, Offset: cfg.offset, Resume: cfg.resume}); err != nil {
		return Result{}, sendErr(st, err)
	}
	var acc UploadAccept
	if err := st.Recv(&acc); err != nil {
		return Result{}, recvEnd(err, "accept")
	}
	off := acc.Offset
	if off < 0 || off > size || (!cfg.resume && off != cfg.offset) {
		return Result{}, fmt.Errorf("%w: the server accepted offset %d (size %d)", ErrProtocol, off, size)
	}
	h := sha256.New()
	if err := hashPrefix(h, r, off); err != nil {
		return Result{}, fmt.Errorf("brisk/transfer: reading the first %d bytes of the source: %w", off, err)
	}
	cfg.report(off, size)
	buf := make([]byte, min(int64(cfg.chunkSize), size-off))
	var chunk []byte // sent by pointer: one allocation for the interface, not one per chunk
	for pos := off; pos < size; {
		n := int(min(int64(len(buf)), size-pos))
		got, err := r.ReadAt(buf[:n], pos)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Result{}, fmt.Errorf("brisk/transfer: reading the source at byte %d of %d: %w", pos+int64(got), size, err)
		}
		chunk = buf[:n]
		h.Write(chunk)
		if err := st.Send(&chunk); err != nil {
			return Result{}, sendErr(st, err)
		}
		pos += int64(n)
		cfg.report(pos, size)
	}
	res := Result{Size: size, Offset: off, Verified: true}
	h.Sum(res.SHA256[:0])
	if err := st.Send(&UploadTrailer{SHA256: res.SHA256[:]}); err != nil {
		return Result{}, sendErr(st, err)
	}
	var ur UploadResult
	if err := st.Recv(&ur); err != nil {
		return Result{}, recvEnd(err, "result")
	}
	if ur.Size != size || !bytes.Equal(ur.SHA256, res.SHA256[:]) {
		return Result{}, fmt.Errorf("%w: the server stored %d bytes with SHA-256 %x, sent %d with %x", ErrProtocol, ur.Size, ur.SHA256, size, res.SHA256)
	}
	waitEnd(st)
	return res, nil
}

// Download receives the file name of the transfer service registered as service on the
// server c is connected to and writes it to w, from byte 0 or from the offset Resume or
// Offset chose. It checks the server's SHA-256 of the whole file when it can (see
// Result.Verified): a mismatch is ErrChecksum, after the data was written to w.
//
// It returns ErrNotFound, ErrBadName, ErrDenied or ErrOffset (the offset is past the
// file's end) when the server refuses, an error from w.Write as it is, the context's error
// when ctx ends, and a *client.TransportError when the connection fails.
//
// With Resume, w must be an io.Seeker; an *os.File to be resumed should be opened with
// os.O_RDWR so that its first part can be read back for the digest.
func Download(ctx context.Context, c *client.Client, service, name string, w io.Writer, opts ...ClientOption) (Result, error) {
	cfg, err := clientOptions(opts)
	if err != nil {
		return Result{}, err
	}
	off := cfg.offset
	if cfg.resume {
		sk, ok := w.(io.Seeker)
		if !ok {
			return Result{}, errors.New("brisk/transfer: Download with Resume needs a writer that is an io.Seeker")
		}
		if off, err = sk.Seek(0, io.SeekEnd); err != nil {
			return Result{}, fmt.Errorf("brisk/transfer: finding the end of the destination: %w", err)
		}
	}
	h := sha256.New()
	verified := off == 0
	if ra, ok := w.(io.ReaderAt); ok && off > 0 {
		if err := hashPrefix(h, ra, off); err != nil {
			return Result{}, fmt.Errorf("brisk/transfer: reading back the first %d bytes of the destination: %w", off, err)
		}
		verified = true
	}
	st, err := c.NewStream(ctx, service+".Download")
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if err := st.Send(&DownloadRequest{Name: name, Offset: off}); err != nil {
		return Result{}, sendErr(st, err)
	}
	if err := st.CloseSend(); err != nil {
		return Result{}, err
	}
	var hdr DownloadHeader
	if err := st.Recv(&hdr); err != nil {
		return Result{}, recvEnd(err, "header")
	}
	size := hdr.Size
	if hdr.Offset != off || size < off {
		return Result{}, fmt.Errorf("%w: the server sends from %d of %d bytes, asked from %d", ErrProtocol, hdr.Offset, size, off)
	}
	cfg.report(off, size)
	buf := make([]byte, 0, DefaultChunkSize) // Recv decodes into it while it is large enough
	for pos := off; pos < size; {
		if err := st.Recv(&buf); err != nil {
			return Result{}, recvEnd(err, "chunk")
		}
		if int64(len(buf)) > size-pos {
			return Result{}, fmt.Errorf("%w: a chunk of %d bytes at %d passes the size %d", ErrProtocol, len(buf), pos, size)
		}
		if _, err := w.Write(buf); err != nil {
			return Result{}, err
		}
		h.Write(buf)
		pos += int64(len(buf))
		cfg.report(pos, size)
	}
	var tr DownloadTrailer
	if err := st.Recv(&tr); err != nil {
		return Result{}, recvEnd(err, "trailer")
	}
	res := Result{Size: size, Offset: off, Verified: verified}
	if len(tr.SHA256) != sha256.Size {
		return Result{}, fmt.Errorf("%w: a digest of %d bytes", ErrProtocol, len(tr.SHA256))
	}
	copy(res.SHA256[:], tr.SHA256)
	if verified && !bytes.Equal(h.Sum(nil), tr.SHA256) {
		return res, fmt.Errorf("%w: %q: the server's SHA-256 is %x, the data written %x", ErrChecksum, name, tr.SHA256, h.Sum(nil))
	}
	waitEnd(st)
	return res, nil
}

// Stat asks the transfer service registered as service about name: its stored file and
// its partial upload. It returns ErrNotFound when neither exists.
func Stat(ctx context.Context, c *client.Client, service, name string) (FileInfo, error) {
	var info FileInfo
	if err := c.Call(ctx, service+".Stat", &StatRequest{Name: name}, &info); err != nil {
		return FileInfo{}, fromRemote(err)
	}
	return info, nil
}

// sendErr explains a failed Send: io.EOF means the server ended the stream, and Recv tells
// how.
func sendErr(st *client.Stream, err error) error {
	if err != io.EOF {
		return fromRemote(err)
	}
	var discard struct{}
	for {
		if err := st.Recv(&discard); err == io.EOF {
			return fmt.Errorf("%w: the server ended the stream early", ErrProtocol)
		} else if err != nil && !isDecodeErr(err) {
			return fromRemote(err)
		}
	}
}

// recvEnd explains a failed Recv of the server's next message, what.
func recvEnd(err error, what string) error {
	if err == io.EOF {
		return fmt.Errorf("%w: the server ended the stream before the %s", ErrProtocol, what)
	}
	return fromRemote(err)
}

// waitEnd reads the server's end of a completed transfer, so that closing the stream does
// not cancel a method that is about to return. What it reads changes nothing.
func waitEnd(st *client.Stream) {
	var discard struct{}
	for st.Recv(&discard) == nil {
	}
}

// isDecodeErr reports whether err is a message that did not decode, rather than the end of
// the stream.
func isDecodeErr(err error) bool {
	var ce *codec.Error
	return errors.As(err, &ce)
}
