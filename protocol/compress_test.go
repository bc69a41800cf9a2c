package protocol_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"math"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/brisk-rpc/brisk/protocol"
)

var (
	bombOnce sync.Once
	bomb     []byte
)

// gzipBomb returns 100 MiB of zeros, gzipped (about 100 KiB), built once.
func gzipBomb(t testing.TB) []byte {
	bombOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zeros := make([]byte, 1<<20)
		for range 100 {
			_, _ = zw.Write(zeros)
		}
		_ = zw.Close()
		bomb = buf.Bytes()
	})
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	return bomb
}

func TestCompressRoundTrip(t *testing.T) {
	random := make([]byte, 10000)
	_, _ = rand.Read(random)
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"one byte", []byte{7}},
		{"threshold", bytes.Repeat([]byte("x"), protocol.CompressThreshold)},
		{"text", bytes.Repeat([]byte("the quick brown fox "), 500)},
		{"random", random},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := protocol.Compress(nil, tc.data)
			// Any RFC 1952 reader understands it.
			zr, err := gzip.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			std, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(std, tc.data) {
				t.Fatalf("gzip.Reader: %v, %d bytes", err, len(std))
			}
			// Decompress appends to dst.
			out, err := protocol.Decompress([]byte("head"), z, len(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, append([]byte("head"), tc.data...)) {
				t.Fatalf("Decompress returned %d bytes", len(out))
			}
			// Compress appends to dst.
			z2 := protocol.Compress([]byte("head"), tc.data)
			if !bytes.Equal(z2[:4], []byte("head")) || !bytes.Equal(z2[4:], z) {
				t.Errorf("Compress onto a non-empty slice differs")
			}
		})
	}
}

func TestCompressShrinksRepetitiveData(t *testing.T) {
	data := bytes.Repeat([]byte("abc"), 10000)
	if z := protocol.Compress(nil, data); len(z) > len(data)/20 {
		t.Errorf("30000 repetitive bytes compressed to %d", len(z))
	}
}

func TestDecompressLimit(t *testing.T) {
	data := bytes.Repeat([]byte{'z'}, 1000)
	z := protocol.Compress(nil, data)
	tests := []struct {
		name    string
		limit   int
		dst     []byte
		wantErr error
	}{
		{"limit equals size", 1000, nil, nil},
		{"limit above size", 1001, nil, nil},
		{"limit one below", 999, nil, protocol.ErrDecompressedTooLarge},
		{"limit zero", 0, nil, protocol.ErrDecompressedTooLarge},
		{"negative limit", -5, nil, protocol.ErrDecompressedTooLarge},
		{"limit one below, roomy dst", 999, make([]byte, 3, 5000), protocol.ErrDecompressedTooLarge},
		{"limit equals size, roomy dst", 1000, make([]byte, 3, 5000), nil},
		{"no limit", math.MaxInt, nil, nil},
		{"no limit, non-empty dst", math.MaxInt, []byte("abc"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := len(tc.dst)
			out, err := protocol.Decompress(tc.dst, z, tc.limit)
			if tc.wantErr == nil {
				if err != nil || !bytes.Equal(out[start:], data) {
					t.Fatalf("err %v, %d bytes", err, len(out)-start)
				}
				return
			}
			checkFrameError(t, err, tc.wantErr)
			if len(out) != start {
				t.Errorf("on error, returned %d bytes, want dst's %d", len(out), start)
			}
		})
	}
	// An empty stream fits any limit.
	out, err := protocol.Decompress(nil, protocol.Compress(nil, nil), 0)
	if err != nil || len(out) != 0 {
		t.Errorf("empty stream, limit 0: %v, %d bytes", err, len(out))
	}
}

func TestDecompressBomb(t *testing.T) {
	b := gzipBomb(t)
	const limit = 1 << 20
	var out []byte
	var err error
	alloc := heapAlloc(func() { out, err = protocol.Decompress(nil, b, limit) })
	checkFrameError(t, err, protocol.ErrDecompressedTooLarge)
	if len(out) != 0 {
		t.Errorf("returned %d bytes with the error", len(out))
	}
	if alloc > 4*limit {
		t.Errorf("allocated %d bytes for a 1 MiB limit", alloc)
	}
	// With room for it, the same stream inflates to exactly 100 MiB of zeros.
	if testing.Short() {
		return
	}
	full, err := protocol.Decompress(nil, b, 100<<20)
	if err != nil || len(full) != 100<<20 || bytes.IndexByte(full, 1) >= 0 {
		t.Errorf("full inflate: %v, %d bytes", err, len(full))
	}
}

// TestDecompressConcurrent exercises the reader and writer pools from many goroutines.
func TestDecompressConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				data := bytes.Repeat([]byte{byte(g), byte(i)}, 100*(i+1))
				out, err := protocol.Decompress(nil, protocol.Compress(nil, data), 1<<20)
				if err == nil && !bytes.Equal(out, data) {
					err = io.ErrShortBuffer
				}
				if err != nil {
					errs <- err
					return
				}
				// A corrupt stream must not poison the pooled reader.
				if _, err := protocol.Decompress(nil, []byte("junk"), 10); err == nil {
					errs <- io.ErrNoProgress
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
