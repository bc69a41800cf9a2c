package protocol

import (
	"bytes"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// CompressThreshold is the payload size above which a sender configured for compression
// compresses, as rpcx does: smaller payloads gain too little to pay for it.
const CompressThreshold = 1024

var (
	gzipWriters sync.Pool // *gzip.Writer
	gzipReaders sync.Pool // *gzipDecoder
)

// gzipDecoder keeps a gzip reader together with the bytes.Reader it reads from, so that
// decompressing allocates nothing once the pool is warm and a pooled reader never pins the
// last payload it read.
type gzipDecoder struct {
	src bytes.Reader
	zr  gzip.Reader
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Compress appends the gzip (RFC 1952) encoding of src to dst.
func Compress(dst, src []byte) []byte {
	aw := appendWriter{b: dst}
	zw, _ := gzipWriters.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&aw)
	} else {
		zw.Reset(&aw)
	}
	// Writes to an appendWriter cannot fail.
	_, _ = zw.Write(src)
	_ = zw.Close()
	zw.Reset(io.Discard)
	gzipWriters.Put(zw)
	return aw.b
}

// Decompress appends the decompressed gzip stream src to dst. It stops with an error
// wrapping ErrDecompressedTooLarge once the output passes limit bytes (a gzip bomb) and
// with one wrapping ErrBadCompressedData if src is not valid gzip. It never holds more than
// limit+1 bytes of output, whatever src claims. On error dst is returned unextended.
func Decompress(dst, src []byte, limit int) ([]byte, error) {
	limit = min(max(limit, 0), math.MaxInt-1-len(dst)) // keep stop below from overflowing
	d, _ := gzipReaders.Get().(*gzipDecoder)
	if d == nil {
		d = new(gzipDecoder)
	}
	defer func() {
		d.src.Reset(nil)
		gzipReaders.Put(d)
	}()
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		return dst, frameErr(ErrBadCompressedData, "%v", err)
	}
	start := len(dst)
	stop := start + limit + 1 // one byte past the limit is enough to tell a bomb
	for {
		if len(dst) == cap(dst) {
			// Grow geometrically, but never past stop.
			grow := min(max(len(dst)-start, 512), stop-len(dst))
			nd := make([]byte, len(dst), len(dst)+grow)
			copy(nd, dst)
			dst = nd
		}
		n, err := d.zr.Read(dst[len(dst):min(cap(dst), stop)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], frameErr(ErrDecompressedTooLarge, "more than %d bytes", limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], frameErr(ErrBadCompressedData, "%v", err)
		}
	}
}
