package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// newFiles serves a Service over dir (a fresh temporary directory) as "Files" on loopback.
func newFiles(t *testing.T, opts ...Option) (dir, addr string) {
	t.Helper()
	dir = t.TempDir()
	svc, err := NewService(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	s := server.NewServer()
	if err := s.RegisterName("Files", svc, ""); err != nil {
		t.Fatal(err)
	}
	return dir, testsvc.Serve(t, s)
}

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// progressLog records Progress calls and checks them.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int64
}

func (p *progressLog) record(done, total int64) {
	p.mu.Lock()
	p.calls = append(p.calls, [2]int64{done, total})
	p.mu.Unlock()
}

// check verifies the calls start at from, never decrease, report total, end at total and
// are at most one per chunk plus the first.
func (p *progressLog) check(t *testing.T, from, total int64, chunk int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		t.Fatal("no progress calls")
	}
	if p.calls[0][0] != from {
		t.Errorf("first progress %d, want %d", p.calls[0][0], from)
	}
	for i, c := range p.calls {
		if c[1] != total {
			t.Fatalf("progress call %d total %d, want %d", i, c[1], total)
		}
		if i > 0 && c[0] < p.calls[i-1][0] {
			t.Fatalf("progress went back: %v after %v", c, p.calls[i-1])
		}
	}
	if last := p.calls[len(p.calls)-1][0]; last != total {
		t.Errorf("last progress %d, want %d", last, total)
	}
	chunks := (total - from + int64(chunk) - 1) / int64(chunk)
	if int64(len(p.calls)) > chunks+1 {
		t.Errorf("%d progress calls for %d chunks", len(p.calls), chunks)
	}
}

func TestRoundTrip(t *testing.T) {
	dir, addr := newFiles(t)
	for _, serial := range []protocol.SerializeType{protocol.MsgPack, protocol.JSON} {
		opt := client.DefaultOption
		opt.SerializeType = serial
		c := testsvc.Connect(t, addr, opt)
		for _, tc := range []struct {
			name string
			size int
		}{
			{"empty", 0},
			{"one byte", 1},
			{"chunk less one", DefaultChunkSize - 1},
			{"one chunk", DefaultChunkSize},
			{"a few MiB", 3<<20 + 17},
		} {
			t.Run(serial.String()+"/"+tc.name, func(t *testing.T) {
				if serial == protocol.JSON && tc.size > 1<<20 {
					t.Skip("msgpack covers the large file; JSON's base64 only slows -race down")
				}
				ctx := t.Context()
				name := fmt.Sprintf("%s/dir/f-%d.bin", serial, tc.size)
				data := testData(tc.size, uint64(tc.size))
				want := sha256.Sum256(data)

				var up progressLog
				res, err := Upload(ctx, c, "Files", name, bytes.NewReader(data), int64(len(data)), Progress(up.record))
				if err != nil {
					t.Fatal(err)
				}
				if res.Size != int64(len(data)) || res.Offset != 0 || res.SHA256 != want || !res.Verified {
					t.Fatalf("upload result %+v", res)
				}
				up.check(t, 0, int64(len(data)), DefaultChunkSize)
				stored, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
				if err != nil || sha256.Sum256(stored) != want {
					t.Fatalf("stored file differs (%v)", err)
				}
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)) + ".part"); !os.IsNotExist(err) {
					t.Errorf("partial file left after a complete upload: %v", err)
				}
				info, err := Stat(ctx, c, "Files", name)
				if err != nil || info != (FileInfo{Complete: true, Size: int64(len(data))}) {
					t.Fatalf("Stat = %+v, %v", info, err)
				}

				var down progressLog
				var out bytes.Buffer
				res, err = Download(ctx, c, "Files", name, &out, Progress(down.record))
				if err != nil {
					t.Fatal(err)
				}
				if res.Size != int64(len(data)) || res.SHA256 != want || !res.Verified {
					t.Fatalf("download result %+v", res)
				}
				if sha256.Sum256(out.Bytes()) != want {
					t.Fatal("downloaded data differs")
				}
				down.check(t, 0, int64(len(data)), DefaultChunkSize)
			})
		}
	}
}

func TestUploadResume(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := testData(4<<20+5, 1)
	size := int64(len(data))

	// Interrupt after 2.5 MiB were sent: with a 1 MiB window the server has taken well over
	// 1 MiB by then, so the partial file is not empty.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := Upload(ctx, c, "Files", "big.bin", bytes.NewReader(data), size, Progress(func(done, total int64) {
		if done >= 5<<19 {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: %v, want context.Canceled", err)
	}
	info, err := Stat(t.Context(), c, "Files", "big.bin")
	if err != nil || info.Complete || !info.Partial {
		t.Fatalf("after the interruption Stat = %+v, %v; want only a partial file", info, err)
	}

	var p progressLog
	res, err := Upload(t.Context(), c, "Files", "big.bin", bytes.NewReader(data), size, Resume(), Progress(p.record))
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset <= 0 || res.Offset >= size || res.SHA256 != sha256.Sum256(data) {
		t.Fatalf("resumed upload result %+v", res)
	}
	p.check(t, res.Offset, size, DefaultChunkSize)
	stored, err := os.ReadFile(filepath.Join(dir, "big.bin"))
	if err != nil || !bytes.Equal(stored, data) {
		t.Fatalf("stored file differs (%v)", err)
	}
	info, err = Stat(t.Context(), c, "Files", "big.bin")
	if err != nil || info != (FileInfo{Complete: true, Size: size}) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func TestUploadOffset(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := testData(300<<10, 2)
	// A partial upload of 200 KiB, as an interrupted upload leaves it.
	if err := os.WriteFile(filepath.Join(dir, "f.bin.part"), data[:200<<10], 0o644); err != nil {
		t.Fatal(err)
	}
	// Keep only its first 1000 bytes and send the rest.
	res, err := Upload(t.Context(), c, "Files", "f.bin", bytes.NewReader(data), int64(len(data)), Offset(1000))
	if err != nil || res.Offset != 1000 {
		t.Fatalf("Upload with Offset(1000) = %+v, %v", res, err)
	}
	stored, _ := os.ReadFile(filepath.Join(dir, "f.bin"))
	if !bytes.Equal(stored, data) {
		t.Fatal("stored file differs")
	}
	// No partial file: only offset 0 is possible.
	_, err = Upload(t.Context(), c, "Files", "g.bin", bytes.NewReader(data), int64(len(data)), Offset(5))
	if !errors.Is(err, ErrOffset) {
		t.Fatalf("Upload with Offset(5) and no partial file: %v, want ErrOffset", err)
	}
	// A partial file larger than the file cannot be resumed.
	if err := os.WriteFile(filepath.Join(dir, "h.bin.part"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Upload(t.Context(), c, "Files", "h.bin", bytes.NewReader(data[:10]), 10, Resume())
	if !errors.Is(err, ErrOffset) {
		t.Fatalf("resuming a partial file larger than the file: %v, want ErrOffset", err)
	}
}

func TestUploadChecksum(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	a, b := testData(1<<20, 3), testData(1<<20, 4)
	// A partial upload of a, resumed with b: the stored bytes mix both, which the digest
	// catches.
	if err := os.WriteFile(filepath.Join(dir, "mix.bin.part"), a[:300<<10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Upload(t.Context(), c, "Files", "mix.bin", bytes.NewReader(b), int64(len(b)), Resume())
	if !errors.Is(err, ErrChecksum) || !client.IsServiceError(err) {
		t.Fatalf("resumed with other data: %v, want ErrChecksum", err)
	}
	if _, err := Stat(t.Context(), c, "Files", "mix.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a checksum mismatch Stat: %v, want ErrNotFound (partial removed)", err)
	}
}

func TestDownloadResume(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := testData(3<<20+99, 5)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.OpenFile(local, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err = Download(ctx, c, "Files", "big.bin", f, Progress(func(done, _ int64) {
		if done >= 1<<20 {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted download: %v, want context.Canceled", err)
	}
	var p progressLog
	res, err := Download(t.Context(), c, "Files", "big.bin", f, Resume(), Progress(p.record))
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset < 1<<20 || res.Offset >= int64(len(data)) || !res.Verified || res.SHA256 != sha256.Sum256(data) {
		t.Fatalf("resumed download result %+v", res)
	}
	p.check(t, res.Offset, int64(len(data)), DefaultChunkSize)
	got, err := os.ReadFile(local)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}

	// Resuming a complete file transfers nothing and still checks it.
	res, err = Download(t.Context(), c, "Files", "big.bin", f, Resume())
	if err != nil || res.Offset != int64(len(data)) || !res.Verified {
		t.Fatalf("resuming a complete download = %+v, %v", res, err)
	}
	// A local file that differs from the server's is caught.
	if _, err := f.WriteAt([]byte{data[10] ^ 1}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(t.Context(), c, "Files", "big.bin", f, Resume()); !errors.Is(err, ErrChecksum) {
		t.Fatalf("resuming onto a damaged file: %v, want ErrChecksum", err)
	}
}

func TestDownloadOffset(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := testData(200<<10, 6)
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer // not an io.ReaderAt: the digest cannot be checked
	res, err := Download(t.Context(), c, "Files", "f.bin", &out, Offset(1000))
	if err != nil || res.Offset != 1000 || res.Verified || !bytes.Equal(out.Bytes(), data[1000:]) {
		t.Fatalf("Download with Offset(1000) = %+v, %v", res, err)
	}
	for _, off := range []int64{int64(len(data)) + 1, 1 << 40} {
		if _, err := Download(t.Context(), c, "Files", "f.bin", io.Discard, Offset(off)); !errors.Is(err, ErrOffset) {
			t.Errorf("Download at %d of %d: %v, want ErrOffset", off, len(data), err)
		}
	}
	if _, err := Download(t.Context(), c, "Files", "f.bin", io.Discard, Resume()); err == nil {
		t.Error("Download with Resume into a writer that cannot seek succeeded")
	}
	if _, err := Download(t.Context(), c, "Files", "f.bin", io.Discard, Offset(-1)); !errors.Is(err, ErrOffset) {
		t.Errorf("negative offset: %v, want ErrOffset", err)
	}
}

func TestBadNames(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "secret")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"", ".", "..", "../x", "a/../../x", "/etc/passwd", "./a", "a//b", "a/", "a\x00b",
		"x.part",
		"out/secret", "out/new", "secret", // symbolic links out of the directory
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			ctx := t.Context()
			data := []byte("data")
			if _, err := Upload(ctx, c, "Files", name, bytes.NewReader(data), 4); !errors.Is(err, ErrBadName) {
				t.Errorf("Upload: %v, want ErrBadName", err)
			}
			if _, err := Download(ctx, c, "Files", name, io.Discard); !errors.Is(err, ErrBadName) {
				t.Errorf("Download: %v, want ErrBadName", err)
			}
			if _, err := Stat(ctx, c, "Files", name); !errors.Is(err, ErrBadName) {
				t.Errorf("Stat: %v, want ErrBadName", err)
			}
		})
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("the directory outside holds %d entries, want only the secret", len(entries))
	}
}

func TestNotFound(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing", "sub/missing", "sub", "file/below"} {
		if _, err := Download(t.Context(), c, "Files", name, io.Discard); !errors.Is(err, ErrNotFound) || !client.IsServiceError(err) {
			t.Errorf("Download %q: %v, want ErrNotFound", name, err)
		}
		if _, err := Stat(t.Context(), c, "Files", name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat %q: %v, want ErrNotFound", name, err)
		}
	}
	// A directory cannot be replaced by an upload.
	if _, err := Upload(t.Context(), c, "Files", "sub", bytes.NewReader(nil), 0); !errors.Is(err, ErrBadName) {
		t.Errorf("Upload onto a directory: %v, want ErrBadName", err)
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []Option
		size    int
		wantErr error
	}{
		{"at the maximum", []Option{WithMaxSize(1000)}, 1000, nil},
		{"over the maximum", []Option{WithMaxSize(1000)}, 1001, ErrTooLarge},
		{"read-only", []Option{ReadOnly()}, 10, ErrReadOnly},
		{"filter", []Option{WithFilter(func(ctx context.Context, op Op, name string) error {
			if op == OpUpload {
				return errors.New("uploads are closed")
			}
			return nil
		})}, 10, ErrDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, addr := newFiles(t, tc.opts...)
			c := testsvc.Connect(t, addr, client.DefaultOption)
			data := testData(tc.size, 7)
			_, err := Upload(t.Context(), c, "Files", "f", bytes.NewReader(data), int64(len(data)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Upload: %v, want %v", err, tc.wantErr)
			}
			_, statErr := os.Stat(filepath.Join(dir, "f.part"))
			if tc.wantErr != nil && !os.IsNotExist(statErr) {
				t.Errorf("a refused upload left a partial file (%v)", statErr)
			}
			// Downloads are unaffected.
			if err := os.WriteFile(filepath.Join(dir, "g"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := Download(t.Context(), c, "Files", "g", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("Download: %v", err)
			}
		})
	}
}

func TestFilterSeesMetadata(t *testing.T) {
	_, addr := newFiles(t, WithFilter(func(ctx context.Context, op Op, name string) error {
		if server.RequestMetadata(ctx)["user"] != "alice" {
			return fmt.Errorf("%s of %s: not alice", op, name)
		}
		return nil
	}))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := []byte("hi")
	alice := client.WithMetadata(t.Context(), map[string]string{"user": "alice"})
	if _, err := Upload(alice, c, "Files", "f", bytes.NewReader(data), 2); err != nil {
		t.Fatal(err)
	}
	_, err := Download(t.Context(), c, "Files", "f", io.Discard)
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("Download without the user: %v, want ErrDenied", err)
	}
	if _, err := Stat(t.Context(), c, "Files", "f"); !errors.Is(err, ErrDenied) {
		t.Fatalf("Stat without the user: %v, want ErrDenied", err)
	}
}

// killableConn connects a client over a connection the test can close.
func killableConn(t *testing.T, addr string) (*client.Client, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(client.DefaultOption)
	if err := c.ConnectConn(nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nc
}

// within runs f and fails the test if it does not return within testsvc.Bound.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(testsvc.Bound):
		t.Fatal("the transfer hangs after its connection was killed")
		return nil
	}
}

func TestKilledConnection(t *testing.T) {
	dir, addr := newFiles(t)
	data := testData(4<<20, 8)
	size := int64(len(data))
	if err := os.WriteFile(filepath.Join(dir, "down.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("upload", func(t *testing.T) {
		c, nc := killableConn(t, addr)
		err := within(t, func() error {
			_, err := Upload(t.Context(), c, "Files", "up.bin", bytes.NewReader(data), size, Progress(func(done, _ int64) {
				if done >= 2<<20 {
					_ = nc.Close()
				}
			}))
			return err
		})
		if !client.IsTransportError(err) {
			t.Fatalf("Upload over a killed connection: %v, want a transport error", err)
		}
		// A new connection resumes what the server kept.
		c2 := testsvc.Connect(t, addr, client.DefaultOption)
		res, err := Upload(t.Context(), c2, "Files", "up.bin", bytes.NewReader(data), size, Resume())
		if err != nil || res.SHA256 != sha256.Sum256(data) {
			t.Fatalf("resumed upload = %+v, %v", res, err)
		}
	})

	t.Run("download", func(t *testing.T) {
		c, nc := killableConn(t, addr)
		err := within(t, func() error {
			_, err := Download(t.Context(), c, "Files", "down.bin", io.Discard, Progress(func(done, _ int64) {
				if done >= 2<<20 {
					_ = nc.Close()
				}
			}))
			return err
		})
		if !client.IsTransportError(err) {
			t.Fatalf("Download over a killed connection: %v, want a transport error", err)
		}
	})
}

func TestConcurrentUploadsOfOneName(t *testing.T) {
	dir, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	versions := [][]byte{testData(1<<20, 9), testData(1<<20, 10), testData(1<<20, 11)}
	var wg sync.WaitGroup
	errs := make([]error, len(versions))
	for i, v := range versions {
		wg.Go(func() {
			_, errs[i] = Upload(t.Context(), c, "Files", "same.bin", bytes.NewReader(v), int64(len(v)), ChunkSize(32<<10))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	stored, err := os.ReadFile(filepath.Join(dir, "same.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if bytes.Equal(stored, v) {
			return
		}
	}
	t.Fatal("the stored file is none of the uploaded versions")
}

func TestShortSource(t *testing.T) {
	_, addr := newFiles(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	_, err := Upload(t.Context(), c, "Files", "short", bytes.NewReader(make([]byte, 100)), 200)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Upload of a source shorter than its size: %v, want io.ErrUnexpectedEOF", err)
	}
	info, err := Stat(t.Context(), c, "Files", "short")
	if err != nil || info.Complete || !info.Partial {
		t.Fatalf("Stat = %+v, %v; want only a partial file", info, err)
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		dir  string
		opts []Option
	}{
		{"missing directory", filepath.Join(dir, "missing"), nil},
		{"zero chunk", dir, []Option{WithChunkSize(0)}},
		{"huge chunk", dir, []Option{WithChunkSize(MaxChunkSize + 1)}},
		{"negative maximum", dir, []Option{WithMaxSize(-1)}},
	} {
		if svc, err := NewService(tc.dir, tc.opts...); err == nil {
			_ = svc.Close()
			t.Errorf("%s: NewService succeeded", tc.name)
		}
	}
	if _, err := Upload(t.Context(), nil, "Files", "f", bytes.NewReader(nil), 0, ChunkSize(0)); err == nil {
		t.Error("Upload with ChunkSize(0) succeeded")
	}
	if _, err := Upload(t.Context(), nil, "Files", "f", bytes.NewReader(nil), -1); err == nil {
		t.Error("Upload of a negative size succeeded")
	}
}

func TestSmallServerChunks(t *testing.T) {
	dir, addr := newFiles(t, WithChunkSize(1000))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	data := testData(10_500, 12)
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var p progressLog
	var out bytes.Buffer
	if _, err := Download(t.Context(), c, "Files", "f", &out, Progress(p.record)); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Download: %v", err)
	}
	p.check(t, 0, int64(len(data)), 1000)
	if len(p.calls) != 12 {
		t.Errorf("%d progress calls, want 12 (the start and 11 chunks)", len(p.calls))
	}
}

func BenchmarkTransfer(b *testing.B) {
	dir := b.TempDir()
	svc, err := NewService(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	s := server.NewServer()
	if err := s.RegisterName("Files", svc, ""); err != nil {
		b.Fatal(err)
	}
	addr := testsvc.Serve(b, s)
	c := testsvc.Connect(b, addr, client.DefaultOption)
	data := testData(8<<20, 13)
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Upload(b.Context(), c, "Files", "f", bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Download(b.Context(), c, "Files", "f", io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
