package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/brisk-rpc/brisk/server"
)

// DefaultChunkSize is the size of the chunks Download sends and Upload sends by default.
const DefaultChunkSize = 64 << 10

// MaxChunkSize is the largest chunk size WithChunkSize and ChunkSize accept.
const MaxChunkSize = 4 << 20

// partSuffix is appended to a name while its upload is unfinished.
const partSuffix = ".part"

// maxNameLen bounds a name's length in bytes.
const maxNameLen = 4096

// Op is an operation a filter (WithFilter) is asked about.
type Op string

// The operations of a Service.
const (
	OpUpload   Op = "upload"   // Upload, the stream method
	OpDownload Op = "download" // Download, the stream method
	OpStat     Op = "stat"     // Stat, the unary method
)

// Option configures a Service.
type Option func(*config)

type config struct {
	maxSize   int64
	chunkSize int
	readOnly  bool
	filter    func(ctx context.Context, op Op, name string) error
}

// WithMaxSize refuses uploads of files larger than n bytes with ErrTooLarge. The default, 0,
// sets no limit: set one on any server that accepts uploads from clients it does not trust.
func WithMaxSize(n int64) Option { return func(c *config) { c.maxSize = n } }

// WithChunkSize sets the size of the chunks Download sends (default DefaultChunkSize, at
// most MaxChunkSize). Chunks must fit the clients' message size and stream window, which
// they do by default.
func WithChunkSize(n int) Option { return func(c *config) { c.chunkSize = n } }

// ReadOnly makes the service refuse uploads with ErrReadOnly.
func ReadOnly() Option { return func(c *config) { c.readOnly = true } }

// WithFilter has f decide about every operation before it touches the directory. It gets
// the request's context (server.RequestMetadata(ctx) holds the caller's metadata), the
// operation and the name, already checked to be a clean relative path. A non-nil error
// refuses the operation: the client gets ErrDenied with the error's text.
func WithFilter(f func(ctx context.Context, op Op, name string) error) Option {
	return func(c *config) { c.filter = f }
}

// Service serves the files under one directory. Register it with the server under a name of
// your choice (the client functions take that name):
//
//	s.RegisterName("Files", svc, "")
//
// Its methods Upload, Download (stream methods) and Stat (unary) are called by the client
// functions of this package; the wire messages are documented in docs/TRANSFER.md.
//
// Uploads of one name are serialized: an upload waits until an earlier upload of the same
// name has ended (as an upload resumed right after its interruption must), bounded by its
// own context. Downloads read the stored file and never wait.
type Service struct {
	root   *os.Root
	cfg    config
	escape error // the os.Root error for a name that reaches outside the root

	mu        sync.Mutex
	uploading map[string]chan struct{} // closed when the upload of the name ends
}

// NewService returns a Service for the files under dir, which must exist. Close it when
// the server no longer serves it.
func NewService(dir string, opts ...Option) (*Service, error) {
	cfg := config{chunkSize: DefaultChunkSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxSize < 0 {
		return nil, fmt.Errorf("brisk/transfer: negative maximum size %d", cfg.maxSize)
	}
	if cfg.chunkSize <= 0 || cfg.chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("brisk/transfer: chunk size %d not in 1..%d", cfg.chunkSize, MaxChunkSize)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("brisk/transfer: %w", err)
	}
	s := &Service{root: root, cfg: cfg, uploading: make(map[string]chan struct{})}
	// os.Root does not export its "path escapes" error: learn it from a name that escapes.
	if _, err := root.Stat(".."); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			s.escape = pe.Err
		}
	}
	return s, nil
}

// Close closes the directory. Transfers still running fail.
func (s *Service) Close() error { return s.root.Close() }

// Stat reports on the stored file and the partial upload of args.Name; ErrNotFound if
// neither exists.
func (s *Service) Stat(ctx context.Context, args *StatRequest, info *FileInfo) error {
	name, err := s.admit(ctx, OpStat, args.Name)
	if err != nil {
		return err
	}
	*info = FileInfo{}
	if fi, err := s.root.Stat(name); err == nil && fi.Mode().IsRegular() {
		info.Complete, info.Size = true, fi.Size()
	} else if err != nil && !s.missing(err) {
		return s.fsErr(name, err)
	}
	if fi, err := s.root.Stat(name + partSuffix); err == nil && fi.Mode().IsRegular() {
		info.Partial, info.PartialSize = true, fi.Size()
	} else if err != nil && !s.missing(err) {
		return s.fsErr(name, err)
	}
	if !info.Complete && !info.Partial {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return nil
}

// Upload receives a file (see UploadRequest) into name.part and renames it to name once it
// is complete and its digest matches. An interrupted upload leaves name.part behind.
func (s *Service) Upload(ctx context.Context, st *server.Stream) error {
	var req UploadRequest
	if err := st.Recv(&req); err != nil {
		return recvErr(err, "the upload request")
	}
	if s.cfg.readOnly {
		return ErrReadOnly
	}
	name, err := s.admit(ctx, OpUpload, req.Name)
	if err != nil {
		return err
	}
	switch {
	case req.Size < 0:
		return fmt.Errorf("%w: negative size %d", ErrProtocol, req.Size)
	case s.cfg.maxSize > 0 && req.Size > s.cfg.maxSize:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, req.Size, s.cfg.maxSize)
	}
	release, err := s.lock(ctx, name)
	if err != nil {
		return err
	}
	defer release()

	if fi, err := s.root.Stat(name); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrBadName, name)
	} else if err != nil && !s.missing(err) {
		return s.fsErr(name, err)
	}
	if dir := filepath.Dir(name); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return s.fsErr(name, err)
		}
	}
	part := name + partSuffix
	f, err := s.root.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return s.fsErr(name, err)
	}
	defer func() {
		if f != nil {
			_ = f.Close() // the partial file stays for a resumption
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return s.fsErr(name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrBadName, part)
	}
	have, off := fi.Size(), req.Offset
	switch {
	case req.Resume && have > req.Size:
		return fmt.Errorf("%w: the partial upload has %d bytes, the file %d", ErrOffset, have, req.Size)
	case req.Resume:
		off = have
	case off < 0 || off > req.Size:
		return fmt.Errorf("%w: offset %d, size %d", ErrOffset, off, req.Size)
	case off > have:
		return fmt.Errorf("%w: offset %d, the partial upload has %d bytes", ErrOffset, off, have)
	}
	if have != off {
		if err := f.Truncate(off); err != nil {
			return s.fsErr(name, err)
		}
	}
	h := sha256.New()
	if err := hashPrefix(h, f, off); err != nil {
		return s.fsErr(name, err)
	}
	if err := st.Send(&UploadAccept{Offset: off}); err != nil {
		return err
	}

	buf := make([]byte, 0, s.cfg.chunkSize) // Recv decodes into it while it is large enough
	for pos := off; pos < req.Size; {
		if err := st.Recv(&buf); err != nil {
			return recvErr(err, fmt.Sprintf("byte %d of %d", pos, req.Size))
		}
		if int64(len(buf)) > req.Size-pos {
			return fmt.Errorf("%w: a chunk of %d bytes at %d passes the size %d", ErrProtocol, len(buf), pos, req.Size)
		}
		if _, err := f.WriteAt(buf, pos); err != nil {
			return s.fsErr(name, err)
		}
		h.Write(buf)
		pos += int64(len(buf))
	}
	var tr UploadTrailer
	if err := st.Recv(&tr); err != nil {
		return recvErr(err, "the upload trailer")
	}
	sum := h.Sum(nil)
	if len(tr.SHA256) > 0 && !bytes.Equal(sum, tr.SHA256) {
		_ = f.Close()
		f = nil
		_ = s.root.Remove(part) // resuming would only repeat the mismatch
		return fmt.Errorf("%w: %q: the server computed %x, the client sent %x", ErrChecksum, name, sum, tr.SHA256)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	f = nil
	if err != nil {
		return s.fsErr(name, err)
	}
	if err := s.root.Rename(part, name); err != nil {
		return s.fsErr(name, err)
	}
	return st.Send(&UploadResult{Size: req.Size, SHA256: sum})
}

// Download sends a stored file (see DownloadRequest) from the requested offset on, then the
// whole file's digest.
func (s *Service) Download(ctx context.Context, st *server.Stream) error {
	var req DownloadRequest
	if err := st.Recv(&req); err != nil {
		return recvErr(err, "the download request")
	}
	name, err := s.admit(ctx, OpDownload, req.Name)
	if err != nil {
		return err
	}
	f, err := s.root.Open(name)
	if err != nil {
		return s.fsErr(name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return s.fsErr(name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrNotFound, name)
	}
	size := fi.Size()
	if req.Offset < 0 || req.Offset > size {
		return fmt.Errorf("%w: offset %d, size %d", ErrOffset, req.Offset, size)
	}
	h := sha256.New()
	if err := hashPrefix(h, f, req.Offset); err != nil {
		return s.fsErr(name, err)
	}
	if err := st.Send(&DownloadHeader{Size: size, Offset: req.Offset}); err != nil {
		return err
	}
	buf := make([]byte, s.cfg.chunkSize)
	var chunk []byte // sent by pointer: one allocation for the interface, not one per chunk
	for pos := req.Offset; pos < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if n == 0 {
			if err == nil || err == io.EOF {
				return fmt.Errorf("brisk/transfer: %q shrank to %d bytes during the download", name, pos)
			}
			return s.fsErr(name, err)
		}
		chunk = buf[:n]
		h.Write(chunk)
		if err := st.Send(&chunk); err != nil {
			return err
		}
		pos += int64(n)
	}
	return st.Send(&DownloadTrailer{SHA256: h.Sum(nil)})
}

// admit checks a name and asks the filter; it returns the name in the OS's form.
func (s *Service) admit(ctx context.Context, op Op, name string) (string, error) {
	if name == "" || name == "." || len(name) > maxNameLen || strings.IndexByte(name, 0) >= 0 ||
		path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) ||
		strings.HasSuffix(name, partSuffix) {
		return "", fmt.Errorf("%w: %q (want a clean relative path not ending in %q)", ErrBadName, name, partSuffix)
	}
	if s.cfg.filter != nil {
		if err := s.cfg.filter(ctx, op, name); err != nil {
			return "", fmt.Errorf("%w: %s %q: %v", ErrDenied, op, name, err)
		}
	}
	return filepath.FromSlash(name), nil
}

// lock waits until no other upload of name runs and claims it.
func (s *Service) lock(ctx context.Context, name string) (release func(), err error) {
	for {
		s.mu.Lock()
		busy, ok := s.uploading[name]
		if !ok {
			done := make(chan struct{})
			s.uploading[name] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.uploading, name)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("brisk/transfer: waiting for another upload of %q: %w", name, ctx.Err())
		}
	}
}

// missing reports whether err says a file does not exist.
func (s *Service) missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// fsErr turns a file system error about name into the transfer error the client sees.
func (s *Service) fsErr(name string, err error) error {
	switch {
	case s.escape != nil && errors.Is(err, s.escape):
		return fmt.Errorf("%w: %q reaches outside the directory", ErrBadName, filepath.ToSlash(name))
	case s.missing(err):
		return fmt.Errorf("%w: %q", ErrNotFound, filepath.ToSlash(name))
	}
	return fmt.Errorf("brisk/transfer: %w", err)
}

// hashPrefix feeds the first n bytes of f to h.
func hashPrefix(h hash.Hash, f io.ReaderAt, n int64) error {
	if n == 0 {
		return nil
	}
	got, err := io.Copy(h, io.NewSectionReader(f, 0, n))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// recvErr describes a failed Recv of what: an end of the client's side there is a
// protocol violation; a cancelled stream or a dead connection is passed on.
func recvErr(err error, what string) error {
	if err == io.EOF {
		return fmt.Errorf("%w: the client's side ended before %s", ErrProtocol, what)
	}
	return err
}
