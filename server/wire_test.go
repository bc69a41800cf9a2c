package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// request builds a request frame.
func request(seq uint64, st protocol.SerializeType, path, method string, md map[string]string, payload []byte) *protocol.Message {
	m := protocol.NewMessage()
	m.SetSeq(seq)
	m.SetSerializeType(st)
	m.ServicePath, m.ServiceMethod = path, method
	m.Metadata = md
	m.Payload = payload
	return m
}

func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange writes frame on nc and reads back one frame.
func exchange(t *testing.T, nc net.Conn, frame []byte) []byte {
	t.Helper()
	if _, err := nc.Write(frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := testsvc.ReadFrame(nc)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

// expectClosed reads from nc until the server closes it, failing if anything but a clean
// end of stream (or a reset) comes first.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	b, err := io.ReadAll(nc)
	if len(b) != 0 {
		t.Fatalf("server sent % x before closing", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server did not close the connection: %v", err)
	}
}

func TestGoldenFrame(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	nc := testsvc.Dial(t, addr)
	got := exchange(t, nc, testsvc.GoldenRequest)
	if !bytes.Equal(got, testsvc.GoldenResponse) {
		t.Fatalf("response\n got % x\nwant % x", got, testsvc.GoldenResponse)
	}
	// The connection keeps working, and two frames in one write get two answers.
	if _, err := nc.Write(append(append([]byte(nil), testsvc.GoldenRequest...), testsvc.GoldenRequest...)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := testsvc.ReadFrame(nc)
		if err != nil {
			t.Fatalf("pipelined response %d: %v", i, err)
		}
		if !bytes.Equal(got, testsvc.GoldenResponse) {
			t.Fatalf("pipelined response %d\n got % x\nwant % x", i, got, testsvc.GoldenResponse)
		}
	}
}

// TestRawExchanges sends single valid frames and checks the answer field by field.
func TestRawExchanges(t *testing.T) {
	hbPayload := mustMsgpack(t, int64(1700000000000000000))
	tests := []struct {
		name  string
		req   func() []byte
		check func(t *testing.T, req, resp []byte)
	}{
		{
			name: "version byte echoed",
			req: func() []byte {
				b := append([]byte(nil), testsvc.GoldenRequest...)
				b[1] = 0x07
				return b
			},
			check: func(t *testing.T, req, resp []byte) {
				want := append([]byte(nil), testsvc.GoldenResponse...)
				want[1] = 0x07
				if !bytes.Equal(resp, want) {
					t.Fatalf("got % x\nwant % x", resp, want)
				}
			},
		},
		{
			name: "heartbeat echoed with flags 0xC0",
			req: func() []byte {
				m := request(7, protocol.MsgPack, "", "", nil, hbPayload)
				m.SetHeartbeat(true)
				b := m.Encode()
				if b[2] != 0x40 {
					t.Fatalf("heartbeat request flags 0x%02x", b[2])
				}
				return b
			},
			check: func(t *testing.T, req, resp []byte) {
				want := append([]byte(nil), req...)
				want[2] = 0xC0
				if !bytes.Equal(resp, want) {
					t.Fatalf("got % x\nwant % x", resp, want)
				}
			},
		},
		{
			name: "msgpack call",
			req: func() []byte {
				return request(1<<40, protocol.MsgPack, "Arith", "Mul", nil, mustMsgpack(t, testsvc.Args{A: 6, B: 7})).Encode()
			},
			check: func(t *testing.T, req, resp []byte) {
				m := testsvc.DecodeFrame(t, resp)
				var r testsvc.Reply
				if err := msgpack.Unmarshal(m.Payload, &r); err != nil {
					t.Fatal(err)
				}
				if resp[2] != 0x80 || resp[3] != 0x30 || m.Seq() != 1<<40 || r.C != 42 {
					t.Fatalf("flags 0x%02x ser 0x%02x seq %d C %d", resp[2], resp[3], m.Seq(), r.C)
				}
			},
		},
		{
			name: "handler error has flags 0x81 and the text",
			req: func() []byte {
				return request(9, protocol.JSON, "Arith", "Div", map[string]string{"x": "y"}, []byte(`{"A":1,"B":0}`)).Encode()
			},
			check: func(t *testing.T, req, resp []byte) {
				want := request(9, protocol.JSON, "Arith", "Div", map[string]string{protocol.ServiceError: "divide by zero"}, nil)
				want.SetMessageType(protocol.Response)
				want.SetMessageStatusType(protocol.Error)
				if !bytes.Equal(resp, want.Encode()) {
					t.Fatalf("got % x\nwant % x", resp, want.Encode())
				}
				if resp[2] != 0x81 {
					t.Fatalf("flags 0x%02x, want 0x81", resp[2])
				}
			},
		},
		{
			name: "unknown service",
			req:  func() []byte { return request(10, protocol.JSON, "Nope", "Mul", nil, []byte(`{}`)).Encode() },
			check: func(t *testing.T, req, resp []byte) {
				expectError(t, resp, 10, "can't find service Nope")
			},
		},
		{
			name: "unknown method",
			req:  func() []byte { return request(11, protocol.JSON, "Arith", "Nope", nil, []byte(`{}`)).Encode() },
			check: func(t *testing.T, req, resp []byte) {
				expectError(t, resp, 11, "can't find method Nope of service Arith")
			},
		},
		{
			name: "undecodable arguments",
			req:  func() []byte { return request(12, protocol.JSON, "Arith", "Mul", nil, []byte(`{"A":`)).Encode() },
			check: func(t *testing.T, req, resp []byte) {
				expectError(t, resp, 12, "bad arguments")
			},
		},
		{
			name: "unknown serialize type",
			req: func() []byte {
				return request(13, protocol.SerializeType(9), "Arith", "Mul", nil, []byte(`x`)).Encode()
			},
			check: func(t *testing.T, req, resp []byte) {
				expectError(t, resp, 13, "serialize type")
			},
		},
	}
	_, _, addr := testsvc.NewArithServer(t)
	nc := testsvc.Dial(t, addr) // one connection for all: each case also proves it survived the one before
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			tt.check(t, req, exchange(t, nc, req))
		})
	}
}

// expectError checks that resp is an error response to seq whose text contains text.
func expectError(t *testing.T, resp []byte, seq uint64, text string) {
	t.Helper()
	m := testsvc.DecodeFrame(t, resp)
	if m.MessageType() != protocol.Response || m.MessageStatusType() != protocol.Error || resp[2]&0x03 != 1 {
		t.Fatalf("flags 0x%02x: want an error response", resp[2])
	}
	if m.Seq() != seq {
		t.Fatalf("seq %d, want %d", m.Seq(), seq)
	}
	if got := m.Metadata[protocol.ServiceError]; !strings.Contains(got, text) {
		t.Fatalf("error text %q does not contain %q", got, text)
	}
	if len(m.Payload) != 0 {
		t.Fatalf("error response has payload % x", m.Payload)
	}
}

func TestHeartbeatSkipsAuth(t *testing.T) {
	auth := server.WithAuthFunc(func(ctx context.Context, req *protocol.Message, token string) error {
		return errors.New("no entry")
	})
	_, _, addr := testsvc.NewArithServer(t, auth)
	nc := testsvc.Dial(t, addr)
	m := request(3, protocol.MsgPack, "", "", nil, mustMsgpack(t, int64(5)))
	m.SetHeartbeat(true)
	req := m.Encode()
	resp := exchange(t, nc, req)
	want := append([]byte(nil), req...)
	want[2] = 0xC0
	if !bytes.Equal(resp, want) {
		t.Fatalf("got % x\nwant % x", resp, want)
	}
	// A real call is refused and closes the connection.
	expectError(t, exchange(t, nc, testsvc.GoldenRequest), 42, "no entry")
	expectClosed(t, nc)
}

func TestOnewaySendsNothing(t *testing.T) {
	s, a, addr := testsvc.NewArithServer(t)
	nc := testsvc.Dial(t, addr)
	var stream []byte
	for i, m := range []*protocol.Message{
		request(1, protocol.JSON, "Arith", "Notify", nil, []byte(`{"A":1,"B":2}`)),
		request(2, protocol.JSON, "Arith", "Panic", nil, []byte(`{"A":1}`)),
		request(3, protocol.JSON, "Arith", "Div", nil, []byte(`{"A":1,"B":0}`)), // handler error
		request(4, protocol.JSON, "Nope", "Nope", nil, nil),                     // framework error
		request(5, protocol.JSON, "Arith", "Notify", nil, []byte(`{"A":3,"B":4}`)),
	} {
		m.SetOneway(true)
		b := m.Encode()
		if b[2] != 0x20 {
			t.Fatalf("frame %d flags 0x%02x, want 0x20", i, b[2])
		}
		stream = append(stream, b...)
	}
	if _, err := nc.Write(stream); err != nil {
		t.Fatal(err)
	}
	got := []testsvc.Args{testsvc.Recv(t, a.Notified, "first Notify"), testsvc.Recv(t, a.Notified, "second Notify")}
	if got[0].A+got[1].A != 4 { // the two handlers may run in either order
		t.Fatalf("Notify saw %v", got)
	}
	// Shutdown waits for every admitted request to finish (and to write whatever it writes)
	// and then closes the connection: so everything the server would ever send is in the
	// stream before its end.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectClosed(t, nc)
}

// TestServerPushFrame checks the frame a push puts on the wire.
func TestServerPushFrame(t *testing.T) {
	s := server.NewServer()
	conns := make(chan net.Conn, 1)
	err := s.RegisterFunctionName("Sub", "Scribe", func(ctx context.Context, args *testsvc.Args, reply *testsvc.Reply) error {
		conns <- server.RemoteConn(ctx)
		return nil
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	nc := testsvc.Dial(t, addr)
	resp := exchange(t, nc, request(1, protocol.JSON, "Sub", "Scribe", nil, []byte(`{}`)).Encode())
	if m := testsvc.DecodeFrame(t, resp); m.MessageStatusType() != protocol.Normal {
		t.Fatalf("subscribe failed: %v", m.Metadata)
	}
	remote := testsvc.Recv(t, conns, "remote conn")
	if remote == nil {
		t.Fatal("RemoteConn returned nil inside a handler")
	}
	for i := range 2 {
		if err := s.SendMessage(remote, "Feed", "Tick", map[string]string{"n": "x"}, []byte{byte(i)}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
	var seqs []uint64
	for i := range 2 {
		frame, err := testsvc.ReadFrame(nc)
		if err != nil {
			t.Fatal(err)
		}
		m := testsvc.DecodeFrame(t, frame)
		if frame[2] != 0x20 || frame[3] != 0x00 || m.ServicePath != "Feed" || m.ServiceMethod != "Tick" ||
			m.Metadata["n"] != "x" || !bytes.Equal(m.Payload, []byte{byte(i)}) {
			t.Fatalf("push %d: flags 0x%02x ser 0x%02x %s.%s %v % x", i, frame[2], frame[3], m.ServicePath, m.ServiceMethod, m.Metadata, m.Payload)
		}
		seqs = append(seqs, m.Seq())
	}
	if seqs[1] <= seqs[0] {
		t.Fatalf("push seqs %v do not count up", seqs)
	}
	if server.RemoteConn(context.Background()) != nil {
		t.Fatal("RemoteConn outside a handler is not nil")
	}
	if err := s.SendMessage(&net.TCPConn{}, "a", "b", nil, nil); !errors.Is(err, server.ErrUnknownConn) {
		t.Fatalf("SendMessage to an unknown conn: %v", err)
	}
}

// corrupt returns the golden request with the 4-byte length at off replaced by n. The frame's
// total stays right, so the frame is read whole and only its inside is inconsistent.
func corrupt(off int, n uint32) []byte {
	b := append([]byte(nil), testsvc.GoldenRequest...)
	binary.BigEndian.PutUint32(b[off:], n)
	return b
}

// Offsets of the length fields in the golden request.
const (
	offPath     = 16
	offMethod   = offPath + 4 + 5
	offMetadata = offMethod + 4 + 3
	offKey      = offMetadata + 4
	offValue    = offKey + 4 + 1
	offPayload  = offMetadata + 4 + 10
)

// TestMalformedFrameAnswered covers inner lengths that do not fit the frame: the server
// answers an error with the frame's seq and keeps the connection.
func TestMalformedFrameAnswered(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		text  string
	}{
		{"path overruns", corrupt(offPath, 1000), "malformed"},
		{"path length 4 GiB", corrupt(offPath, 0xFFFFFFFF), "malformed"},
		{"method overruns", corrupt(offMethod, 60), "malformed"},
		{"metadata overruns", corrupt(offMetadata, 0x7FFFFFFF), "malformed"},
		{"metadata key overruns its block", corrupt(offKey, 20), "malformed"},
		{"metadata value overruns its block", corrupt(offValue, 2), "malformed"},
		{"payload overruns", corrupt(offPayload, 16), "malformed"},
		{"payload short of the frame", corrupt(offPayload, 14), "malformed"},
		{"unknown compress type", func() []byte {
			b := append([]byte(nil), testsvc.GoldenRequest...)
			b[2] = 2 << 2
			return b
		}(), "compress"},
		{"gzip flag on data that is not gzip", func() []byte {
			b := append([]byte(nil), testsvc.GoldenRequest...)
			b[2] = 1 << 2
			return b
		}(), "compressed"},
	}
	_, _, addr := testsvc.NewArithServer(t)
	nc := testsvc.Dial(t, addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, exchange(t, nc, tt.frame), 42, tt.text)
			if got := exchange(t, nc, testsvc.GoldenRequest); !bytes.Equal(got, testsvc.GoldenResponse) {
				t.Fatalf("connection unusable after the bad frame: % x", got)
			}
		})
	}
}

func TestGzipBomb(t *testing.T) {
	const limit = 1 << 20
	_, _, addr := testsvc.NewArithServer(t, server.WithMaxMessageSize(limit))
	bomb := protocol.Compress(nil, make([]byte, 32<<20)) // 32 MiB of zeros in a few KiB
	if len(bomb) > limit/8 {
		t.Fatalf("bomb is %d bytes; it should be tiny", len(bomb))
	}
	m := request(77, protocol.JSON, "Arith", "Mul", nil, bomb)
	m.SetCompressType(protocol.Gzip)
	nc := testsvc.Dial(t, addr)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	expectError(t, exchange(t, nc, m.Encode()), 77, "too large")
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16*limit {
		t.Errorf("the server allocated %d bytes for a bomb capped at %d", grew, limit)
	}
	if got := exchange(t, nc, testsvc.GoldenRequest); !bytes.Equal(got, testsvc.GoldenResponse) {
		t.Fatalf("connection unusable after the bomb: % x", got)
	}
}

// TestFatalFramesCloseConnection covers frames after which the stream cannot be trusted:
// the server closes the connection, allocates nothing large, and serves everyone else.
func TestFatalFramesCloseConnection(t *testing.T) {
	hugeLength := append([]byte(nil), testsvc.GoldenRequest[:16]...)
	binary.BigEndian.PutUint32(hugeLength[12:], 0xFFFFFFFF)
	overLimit := append([]byte(nil), testsvc.GoldenRequest[:16]...)
	binary.BigEndian.PutUint32(overLimit[12:], protocol.DefaultMaxMessageSize+1)
	badMagic := append([]byte(nil), testsvc.GoldenRequest...)
	badMagic[0] = 0x09
	tests := []struct {
		name       string
		data       []byte
		maxAnswers int // golden answers that may come before the close
	}{
		{"4 GiB length field", hugeLength, 0},
		{"length one over the limit", overLimit, 0},
		{"bad magic", badMagic, 0},
		// The good frame's handler may or may not answer before the server closes: the
		// connection is closed as soon as the garbage is read.
		{"bad magic after a good frame", append(append([]byte(nil), testsvc.GoldenRequest...), badMagic...), 1},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0},
	}
	// Without HTTP on the port, so that a bad first byte is a bad frame too (with HTTP,
	// such a connection goes to the HTTP server, which answers 400 and closes).
	s, _, addr := testsvc.NewArithServer(t, server.WithHTTPHandler(nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			nc := testsvc.Dial(t, addr)
			if _, err := nc.Write(tt.data); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server did not close the connection: %v", err)
			}
			frames := testsvc.SplitFrames(rest)
			if len(frames) > tt.maxAnswers || len(bytes.Join(frames, nil)) != len(rest) {
				t.Fatalf("server sent % x before closing", rest)
			}
			for _, f := range frames {
				if !bytes.Equal(f, testsvc.GoldenResponse) {
					t.Fatalf("answer before the close: % x", f)
				}
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("serving the bad frame allocated %d bytes", grew)
			}
			// The server still serves a fresh connection.
			other := testsvc.Dial(t, addr)
			if got := exchange(t, other, testsvc.GoldenRequest); !bytes.Equal(got, testsvc.GoldenResponse) {
				t.Fatalf("server broken after the bad frame: % x", got)
			}
			_ = other.Close()
			testsvc.Eventually(t, "the server to forget both connections", func() bool {
				return len(s.ActiveClientConn()) == 0
			})
		})
	}
}

// TestLyingLengthThenStall: a frame that claims a large (allowed) body and then sends little
// costs the server little memory, and its connection ends when the peer goes.
func TestLyingLengthThenStall(t *testing.T) {
	s, _, addr := testsvc.NewArithServer(t)
	prefix := append([]byte(nil), testsvc.GoldenRequest[:16]...)
	binary.BigEndian.PutUint32(prefix[12:], 60<<20) // under the 64 MiB default limit
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	nc := testsvc.Dial(t, addr)
	if _, err := nc.Write(append(prefix, make([]byte, 4096)...)); err != nil {
		t.Fatal(err)
	}
	if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, nc) // the server saw the frame cut short and closed its side
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("a 4 KiB frame claiming 60 MiB made the server allocate %d bytes", grew)
	}
	testsvc.Eventually(t, "the server to forget the connection", func() bool { return len(s.ActiveClientConn()) == 0 })
}

// TestTruncatedFrames: the peer sends part of a frame and goes away, either half-closing
// (the server reads EOF mid-frame) or closing outright. The server's connection goroutine
// ends (goleak checks at exit) and the server keeps serving.
func TestTruncatedFrames(t *testing.T) {
	cuts := []int{1, 5, 12, 15, 16, 20, 40, len(testsvc.GoldenRequest) - 1}
	s, _, addr := testsvc.NewArithServer(t)
	for _, cut := range cuts {
		for _, half := range []bool{true, false} {
			name := fmt.Sprintf("cut at %d, close", cut)
			if half {
				name = fmt.Sprintf("cut at %d, half close", cut)
			}
			t.Run(name, func(t *testing.T) {
				nc := testsvc.Dial(t, addr)
				// A whole frame first, so the server is certainly mid-stream.
				if got := exchange(t, nc, testsvc.GoldenRequest); !bytes.Equal(got, testsvc.GoldenResponse) {
					t.Fatalf("got % x", got)
				}
				if _, err := nc.Write(testsvc.GoldenRequest[:cut]); err != nil {
					t.Fatal(err)
				}
				if half {
					if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
						t.Fatal(err)
					}
					expectClosed(t, nc)
				} else {
					_ = nc.Close()
				}
				testsvc.Eventually(t, "the server to drop the connection", func() bool {
					return len(s.ActiveClientConn()) == 0
				})
				other := testsvc.Dial(t, addr)
				if got := exchange(t, other, testsvc.GoldenRequest); !bytes.Equal(got, testsvc.GoldenResponse) {
					t.Fatalf("server broken: % x", got)
				}
				_ = other.Close()
				testsvc.Eventually(t, "the server to drop the second connection", func() bool {
					return len(s.ActiveClientConn()) == 0
				})
			})
		}
	}
}
