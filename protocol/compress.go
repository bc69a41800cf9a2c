package protocol

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// CompressThreshold is the payload size above which a sender configured for compression
// compresses, as rpcx does: smaller payloads gain too little to pay for it.
const CompressThreshold = 1024

var (
	gzipWriters sync.Pool // *gzip.Writer
	gzipReaders sync.Pool // *gzip.Reader
)

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
// with one wrapping ErrBadCompressedData if src is not valid gzip.
func Decompress(dst, src []byte, limit int) ([]byte, error) {
	br := bytes.NewReader(src)
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return dst, frameErr(ErrBadCompressedData, "%v", err)
	}
	defer gzipReaders.Put(zr)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := zr.Read(dst[len(dst):cap(dst)])
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
