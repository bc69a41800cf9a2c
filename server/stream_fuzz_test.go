package server_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// The fuzzed stream server's limits: a small window and message size, so a few frames of
// padding overrun a stream's window (a flow-control violation) and one header can claim a
// frame too large (a connection-level violation).
const (
	sfMaxMessage = 128 << 10
	sfWindow     = flow.InitialWindow
	sfMaxFrames  = 64
	sfPadUnit    = 2 << 10
)

// Stream ids the fuzzer picks from, and the seqs of its calls (never a stream id).
var sfIDs = [...]uint64{1, 2, 3, 1<<64 - 1}

const (
	sfCallSeq  = 1 << 40 // + the call's index
	sfFinalSeq = 1 << 41 // then sfFinalSeq+1 for the barrier
)

// Methods an open names: mostly the stream methods that end by themselves, some that wait
// for the client, and bad names. "" with sfNoMethod means no MethodKey at all.
var sfMethods = [...]string{
	"Streams.Echo", "Streams.Sum", "Streams.Count", "Streams.Fail",
	"Streams.Echo", "Streams.Sum", "Streams.Count", "Streams.Fail",
	"Streams.Block", "Streams.Stall", "Streams.Flood",
	"Streams.Nope", "Arith.Mul", "Nope.Echo", "", "Streams", "Streams.", ".Echo", sfNoMethod,
	protocol.StreamService + ".open",
}

const sfNoMethod = "\x00no method key"

var sfSerials = [...]protocol.SerializeType{
	protocol.MsgPack, protocol.MsgPack, protocol.JSON, protocol.SerializeNone,
	protocol.ProtoBuffer, protocol.Thrift, 7, 15,
}

// sfOp is the fuzzer's bytes for one frame, to write seeds with.
type sfOp []byte

// Frame kinds of the fuzzer's input: a sequence of frames, each an op byte (opBadMagic,
// opTooLarge, or a kind: op % opKinds), a stream id byte (an index into sfIDs) and the
// kind's own bytes.
const (
	opOpen = iota
	opMsg
	opEOF
	opWin
	opCancel
	opEnd
	opGarbage
	opCall
	opKinds
	opBadMagic = 0xFE // closes the connection
	opTooLarge = 0xFF // closes the connection
)

// sfFrame is one frame to write and what the server may answer to it.
type sfFrame struct {
	raw     []byte
	seq     uint64
	openID  bool   // an open: seq is a stream id from now on
	bad     string // a request the server cannot parse, but answers with an error: its kind
	expectC *int   // a Mul call: its answer
	call    string // a call's method
}

// sfFrames turns the fuzzer's bytes into frames; fatal says the last one is a
// connection-level violation, after which the server must close the connection.
func sfFrames(data []byte) (frames []sfFrame, fatal bool) {
	in := &testsvc.FuzzInput{B: data}
	calls := 0
	for len(in.B) > 0 && len(frames) < sfMaxFrames {
		op := in.Byte()
		switch op {
		case opBadMagic:
			h := make([]byte, protocol.HeaderSize)
			h[0] = protocol.MagicNumber ^ 0xFF
			copy(h[1:], in.Take(protocol.HeaderSize-1))
			return append(frames, sfFrame{raw: h}), true
		case opTooLarge:
			m := protocol.NewMessage()
			m.SetSeq(sfIDs[in.Byte()%4])
			h := m.Encode()[:protocol.HeaderSize]
			binary.BigEndian.PutUint32(h[12:], sfMaxMessage+1+uint32(in.Byte())<<16)
			return append(frames, sfFrame{raw: h}), true
		}
		id := sfIDs[in.Byte()%4]
		m := protocol.NewMessage()
		fr := sfFrame{seq: id}
		switch op % opKinds {
		case opOpen:
			method := sfMethods[int(in.Byte())%len(sfMethods)]
			flow.Frame(m, protocol.Request, id, flow.KindOpen)
			flags := in.Byte()
			m.SetSerializeType(sfSerials[flags&7])
			m.SetOneway(flags&0x08 != 0)
			m.SetHeartbeat(flags&0x40 != 0)
			m.Metadata = map[string]string{}
			if method != sfNoMethod {
				m.Metadata[flow.MethodKey] = method
			}
			if flags&0x20 != 0 {
				m.Metadata["k"] = string(in.Take(int(in.Byte() % 16)))
			}
			if flags&0x10 != 0 {
				m.SetCompressType(protocol.Gzip)
				m.Payload = in.Take(int(in.Byte() % 16))
			}
		case opMsg:
			flow.Frame(m, protocol.Request, id, flow.KindMsg)
			if flags := testsvc.FuzzMessage(in, m, sfSerials[:], sfPadUnit); flags&0x08 != 0 {
				m.SetOneway(false)
			}
		case opEOF:
			flow.Frame(m, protocol.Request, id, flow.KindEOF)
		case opWin:
			flow.Frame(m, protocol.Request, id, flow.KindWindow)
			m.Payload = testsvc.FuzzWindow(in)
		case opCancel:
			flow.Frame(m, protocol.Request, id, flow.KindCancel)
		case opEnd:
			flow.Frame(m, protocol.Request, id, flow.KindEnd)
			if in.Byte()&1 != 0 {
				m.SetMessageStatusType(protocol.Error)
				m.Metadata = map[string]string{protocol.ServiceError: "client says no"}
			}
		case opGarbage:
			switch sel := in.Byte(); sel % 4 {
			case 0: // an unknown stream frame kind
				flow.Frame(m, protocol.Request, id, string(in.Take(int(in.Byte()%8))))
				m.Payload = in.Take(int(in.Byte() % 32))
			case 1: // a stream frame from the wrong side
				flow.Frame(m, protocol.Response, id, []string{flow.KindMsg, flow.KindEnd, flow.KindWindow, flow.KindOpen}[sel>>2&3])
				m.Payload = in.Take(int(in.Byte() % 32))
			case 2: // a whole frame whose body is anything
				m.Header[2] = in.Byte()
				m.Header[3] = in.Byte()
				m.SetSeq(id)
				m.SetMessageType(protocol.Request)
				body := in.Take(int(in.Byte()))
				raw := append(m.Encode()[:12], 0, 0, 0, 0)
				binary.BigEndian.PutUint32(raw[12:], uint32(len(body)))
				fr.raw = append(raw, body...)
			case 3: // a stream frame with odd flags and metadata
				flow.Frame(m, protocol.Request, id, flow.KindMsg)
				m.Header[2] = in.Byte() &^ 0x80 // a request, any flags
				m.Metadata = map[string]string{flow.MethodKey: "Streams.Echo", "": ""}
				m.Payload = in.Take(int(in.Byte() % 32))
			}
		case opCall:
			seq := uint64(sfCallSeq + calls)
			m.SetSeq(seq)
			m.SetSerializeType(protocol.JSON)
			m.ServicePath = "Arith"
			fr.seq = seq
			switch sel := in.Byte(); sel % 4 {
			case 0, 1:
				m.ServiceMethod = "Mul"
				c := calls * 7
				fr.expectC = &c
				m.Payload = fmt.Appendf(nil, `{"A":%d,"B":7}`, calls)
			case 2:
				m.ServiceMethod = "Div"
				m.Payload = []byte(`{"A":1,"B":0}`)
			case 3:
				m.ServiceMethod = "Panic"
				m.Payload = []byte(`{"A":1}`)
			}
			fr.call = m.ServiceMethod
			calls++
		}
		if fr.raw == nil {
			fr.raw = m.Encode()
		}
		// Whatever built it, a frame the server reads as an open opens its id, and one it
		// cannot parse (but for its header) gets an error answer, like a bad call.
		d := protocol.NewMessage()
		switch err := d.DecodeBytes(fr.raw, sfMaxMessage); {
		case err == nil:
			fr.openID = d.MessageType() == protocol.Request && d.ServicePath == protocol.StreamService &&
				d.ServiceMethod == flow.KindOpen
		case errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrUnknownCompressType) ||
			errors.Is(err, protocol.ErrDecompressedTooLarge) || errors.Is(err, protocol.ErrBadCompressedData):
			if d.MessageType() == protocol.Request && !d.IsOneway() && d.ServicePath == protocol.StreamService {
				fr.bad = d.ServiceMethod
			}
		}
		frames = append(frames, fr)
	}
	return frames, false
}

// sfSeed encodes ops for the seed corpus.
func sfSeed(ops ...sfOp) []byte {
	var b []byte
	for _, op := range ops {
		b = append(b, op...)
	}
	return b
}

func sfOpen(idx byte, method string) sfOp {
	for i, m := range sfMethods {
		if m == method {
			return sfOp{opOpen, idx, byte(i), 0}
		}
	}
	panic("no method " + method)
}

func sfMsg(idx byte, payload []byte) sfOp {
	return append(sfOp{opMsg, idx, 0, byte(len(payload))}, payload...)
}

type sfKey struct {
	seq  uint64
	kind string
}

// sfState is what the reader knows of the frames written, to check the server's answers.
type sfState struct {
	mu      sync.Mutex
	written map[uint64]bool    // every seq a frame carried
	opens   map[uint64]int     // opens sent per stream id
	bad     map[sfKey]int      // unparsable stream requests sent per seq and kind
	ends    map[uint64]int     // end frames received per stream id
	calls   map[uint64]sfFrame // calls by seq
	final   [2]chan struct{}   // closed when the final call's, the barrier's answer arrived
}

// check verifies one frame from the server.
func (s *sfState) check(frame []byte) error {
	m := protocol.NewMessage()
	if err := m.DecodeBytes(frame, 0); err != nil {
		return fmt.Errorf("server sent a bad frame: %w", err)
	}
	if m.MessageType() != protocol.Response {
		return fmt.Errorf("server sent a request: %s.%s seq %d", m.ServicePath, m.ServiceMethod, m.Seq())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := m.Seq()
	if !s.written[seq] {
		return fmt.Errorf("server answered seq %d, which no frame carried (%s.%s)", seq, m.ServicePath, m.ServiceMethod)
	}
	if m.ServicePath == protocol.StreamService {
		if k := (sfKey{seq, m.ServiceMethod}); m.MessageStatusType() == protocol.Error && s.bad[k] > 0 {
			// The answer to a frame the server could not parse keeps its path and kind.
			s.bad[k]--
			return nil
		}
		if s.opens[seq] == 0 {
			return fmt.Errorf("server sent stream frame %q for id %d, never opened", m.ServiceMethod, seq)
		}
		switch m.ServiceMethod {
		case flow.KindMsg:
		case flow.KindWindow:
			if _, ok := flow.ParseWindow(m.Payload); !ok {
				return fmt.Errorf("server sent a malformed window grant % x", m.Payload)
			}
		case flow.KindEnd:
			s.ends[seq]++
			if s.ends[seq] > s.opens[seq] {
				return fmt.Errorf("server ended stream %d %d times after %d opens", seq, s.ends[seq], s.opens[seq])
			}
		default:
			return fmt.Errorf("server sent stream frame kind %q", m.ServiceMethod)
		}
		return nil
	}
	if seq == sfFinalSeq || seq == sfFinalSeq+1 {
		done := s.final[seq-sfFinalSeq]
		select {
		case <-done:
			return fmt.Errorf("call %d answered twice", seq)
		default:
		}
		if err := checkMul(m, 42); err != nil {
			return fmt.Errorf("call %d: %w", seq, err)
		}
		close(done)
		return nil
	}
	if call, ok := s.calls[seq]; ok {
		if call.expectC != nil {
			if err := checkMul(m, *call.expectC); err != nil {
				return fmt.Errorf("call %d: %w", seq, err)
			}
		} else if m.MessageStatusType() != protocol.Error {
			return fmt.Errorf("call %d Arith.%s succeeded", seq, call.call)
		}
	}
	return nil
}

func checkMul(m *protocol.Message, want int) error {
	if m.MessageStatusType() == protocol.Error {
		return fmt.Errorf("error %q", m.Metadata[protocol.ServiceError])
	}
	var r testsvc.Reply
	if err := json.Unmarshal(m.Payload, &r); err != nil || r.C != want {
		return fmt.Errorf("answer %q (%v), want C=%d", m.Payload, err, want)
	}
	return nil
}

// sfServer is the server the fuzz target's iterations share.
type sfServer struct {
	s     *server.Server
	svc   *testsvc.Streams
	ln    *pipeListener
	stop  chan struct{}
	wg    sync.WaitGroup
	serve chan error
}

func newSFServer(tb testing.TB) *sfServer {
	// No HTTP: a connection whose first byte is not the magic number is closed at once,
	// not handed to the gateway to wait for a request line.
	s := server.NewServer(server.WithMaxMessageSize(sfMaxMessage), server.WithStreamWindow(sfWindow),
		server.WithHTTPHandler(nil), server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	svc := testsvc.NewStreams()
	arith := testsvc.NewArith()
	if err := s.RegisterName("Streams", svc, ""); err != nil {
		tb.Fatal(err)
	}
	if err := s.RegisterName("Arith", arith, ""); err != nil {
		tb.Fatal(err)
	}
	close(arith.Release) // an Arith.Block a garbage frame might call returns at once
	x := &sfServer{s: s, svc: svc, ln: newPipeListener(), stop: make(chan struct{}), serve: make(chan error, 1)}
	// The services report on buffered channels; drain them so that no method ever waits
	// on a full one however many iterations run.
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		for {
			select {
			case <-svc.Entered:
			case <-svc.Ended:
			case <-arith.Entered:
			case <-arith.Notified:
			case <-arith.CtxErr:
			case <-arith.Deadlines:
			case <-x.stop:
				return
			}
		}
	}()
	go func() { x.serve <- s.ServeListener(x.ln) }()
	return x
}

func (x *sfServer) close(tb testing.TB) {
	closed := make(chan error, 1)
	go func() { closed <- x.s.Close() }()
	timer := time.NewTimer(testsvc.Bound)
	defer timer.Stop()
	select {
	case <-closed:
	case <-timer.C:
		tb.Error("server Close hangs")
	}
	select {
	case err := <-x.serve:
		if !errors.Is(err, server.ErrServerClosed) {
			tb.Errorf("ServeListener returned %v", err)
		}
	case <-timer.C:
		tb.Error("ServeListener hangs after Close")
	}
	close(x.stop)
	x.wg.Wait()
}

// FuzzStreamFrames writes a sequence of stream frames (opens of good and bad methods,
// messages of any payload and size, half-closes, window grants of any size and malformed
// ones, cancels, client-sent ends, garbage frames, calls) on one connection, then a call.
// The server must not panic, must answer with well-formed frames only (stream frames only
// for opened ids, windows of 4 bytes, no more ends than opens, right answers to calls),
// and must answer the last call within a bound, unless the input ended with a
// connection-level violation (a bad magic byte or a frame over the size limit), after which
// it must close the connection instead. Once the connection closes, every stream and
// stream method it started must end. The server is shared by the iterations and shut down
// at the end.
func FuzzStreamFrames(f *testing.F) {
	msgpackInt := func(n byte) []byte { return []byte{n} } // positive fixint
	f.Add(sfSeed())
	// Echo: open, two messages, half-close, grant.
	f.Add(sfSeed(sfOpen(0, "Streams.Echo"), sfMsg(0, []byte{0x92, 1, 0xC4, 1, 'x'}), sfMsg(0, []byte{0xC0}),
		sfOp{opWin, 0, 1, 64}, sfOp{opEOF, 0}))
	// Sum of 1, 2, 3, with a call in between.
	f.Add(sfSeed(sfOpen(1, "Streams.Sum"), sfMsg(1, msgpackInt(1)), sfOp{opCall, 0, 0}, sfMsg(1, msgpackInt(2)),
		sfMsg(1, msgpackInt(3)), sfOp{opEOF, 1}))
	// Count a lot with a huge window, then cancel it.
	f.Add(sfSeed(sfOpen(2, "Streams.Count"), sfMsg(2, []byte{0xCE, 0x7F, 0xFF, 0xFF, 0xFF}), sfOp{opWin, 2, 3},
		sfOp{opWin, 2, 2}, sfOp{opCall, 0, 1}, sfOp{opCancel, 2}))
	// Fail with a message, and an open with garbage payload codec.
	f.Add(sfSeed(sfOpen(3, "Streams.Fail"), sfMsg(3, []byte{0xA3, 'b', 'a', 'd'}), sfOp{opOpen, 0, 0, 7},
		sfMsg(0, []byte{0xFF, 0xFF})))
	// Bad opens: missing method key, not a stream method, unknown, duplicate id.
	f.Add(sfSeed(sfOpen(0, sfNoMethod), sfOpen(1, "Arith.Mul"), sfOpen(2, "Streams.Nope"), sfOpen(3, ""),
		sfOpen(0, "Streams.Echo"), sfOpen(0, "Streams.Echo"), sfOp{opEOF, 0}))
	// Flow-control violation: a stream that never reads receives more than its window.
	overrun := []sfOp{sfOpen(1, "Streams.Stall")}
	for range 12 {
		overrun = append(overrun, sfOp{opMsg, 1, 0, 0xFF})
	}
	f.Add(sfSeed(append(overrun, sfOp{opCall, 0, 0})...))
	// Block and Flood with zero and malformed windows, frames for ids never opened.
	f.Add(sfSeed(sfOpen(0, "Streams.Block"), sfOpen(1, "Streams.Flood"), sfOp{opWin, 1, 0}, sfOp{opWin, 1, 5},
		sfOp{opWin, 1, 6, 1, 2, 3}, sfOp{opWin, 1, 7, 1, 2, 3, 4, 5}, sfOp{opMsg, 2, 0, 1, 0},
		sfOp{opEnd, 3, 1}, sfOp{opCancel, 3}, sfOp{opEOF, 0}))
	// Garbage: unknown kind, wrong-side frame, random body, odd flags; gzip that is not.
	f.Add(sfSeed(sfOpen(0, "Streams.Echo"), sfOp{opGarbage, 0, 0, 3, 'z', 'z', 'z', 2, 1, 2},
		sfOp{opGarbage, 0, 1, 3, 1, 2, 3}, sfOp{opGarbage, 0, 2, 0x00, 0x30, 5, 1, 2, 3, 4, 5},
		sfOp{opGarbage, 0, 3, 0x60, 2, 1, 2}, sfOp{opMsg, 0, 0x10, 3, 1, 2, 3}, sfOp{opMsg, 0, 0x30, 3, 1, 2, 3}))
	// Connection-level violations.
	f.Add(sfSeed(sfOpen(0, "Streams.Echo"), sfOp{opBadMagic}))
	f.Add(sfSeed(sfOpen(0, "Streams.Stall"), sfOp{opTooLarge, 0, 0xFF}))

	x := newSFServer(f)
	f.Cleanup(func() { x.close(f) })

	f.Fuzz(func(t *testing.T, data []byte) { x.run(t, data) })
}

// run is one iteration of FuzzStreamFrames.
func (x *sfServer) run(t testing.TB, data []byte) {
	frames, fatal := sfFrames(data)
	st := &sfState{
		written: map[uint64]bool{sfFinalSeq: true, sfFinalSeq + 1: true},
		opens:   map[uint64]int{},
		bad:     map[sfKey]int{},
		ends:    map[uint64]int{},
		calls:   map[uint64]sfFrame{},
		final:   [2]chan struct{}{make(chan struct{}), make(chan struct{})},
	}
	nc, err := x.ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(testsvc.Bound))
	readErr := make(chan error, 1)
	go func() {
		for {
			frame, err := testsvc.ReadFrame(nc)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = nil // the connection closed (a cut frame: by us, mid-write)
				}
				readErr <- err
				return
			}
			if err := st.check(frame); err != nil {
				readErr <- err
				return
			}
		}
	}()

	final := protocol.NewMessage()
	final.SetSerializeType(protocol.JSON)
	final.ServicePath, final.ServiceMethod = "Arith", "Mul"
	final.Payload = []byte(`{"A":6,"B":7}`)
	if !fatal {
		final.SetSeq(sfFinalSeq)
		frames = append(frames, sfFrame{raw: final.Encode(), seq: sfFinalSeq})
	}
	final.SetSeq(sfFinalSeq + 1)
	barrier := final.Encode()

	var writeErr error
	for i, fr := range frames {
		st.mu.Lock()
		st.written[fr.seq] = true
		if fr.openID {
			st.opens[fr.seq]++
		}
		if fr.bad != "" {
			st.bad[sfKey{fr.seq, fr.bad}]++
		}
		if fr.call != "" {
			st.calls[fr.seq] = fr
		}
		st.mu.Unlock()
		if _, writeErr = nc.Write(fr.raw); writeErr != nil {
			var ne net.Error
			if errors.As(writeErr, &ne) && ne.Timeout() {
				t.Fatalf("the server stopped reading at frame %d of %d: %v", i, len(frames), writeErr)
			}
			if !fatal {
				t.Fatalf("the server closed the connection at frame %d of %d of well-framed input: %v", i, len(frames), writeErr)
			}
			break
		}
	}

	timer := time.NewTimer(testsvc.Bound)
	defer timer.Stop()
	if fatal {
		// The server must close the connection: the reader sees its end.
		select {
		case err := <-readErr:
			if err != nil {
				t.Fatal(err)
			}
		case <-timer.C:
			t.Fatal("the server kept a connection that sent a bad frame header")
		}
	} else {
		wait := func(done <-chan struct{}, what string) {
			select {
			case <-done:
			case err := <-readErr:
				if err != nil {
					t.Fatal(err)
				}
				t.Fatal("the server closed the connection of well-framed input")
			case <-timer.C:
				t.Fatalf("the %s was not answered", what)
			}
		}
		wait(st.final[0], "call after the stream frames")
		// Give the stream methods a moment to run (and answer) before the connection
		// closes under them, unless all of them have ended already; then a second call
		// flushes what they wrote (its answer comes after it) through the checks.
		sfPoll(2*time.Millisecond, func() bool { n, _, _ := server.StreamState(x.s); return n == 0 })
		if _, err := nc.Write(barrier); err != nil {
			t.Fatalf("writing the second call: %v", err)
		}
		wait(st.final[1], "second call")
		_ = nc.Close()
		select {
		case err := <-readErr:
			if err != nil {
				t.Fatal(err)
			}
		case <-timer.C:
			t.Fatal("reader hangs")
		}
	}
	_ = nc.Close()

	// Every stream of the connection, and every stream method, ends.
	var streams, queued int
	var running int64
	if !sfPoll(testsvc.Bound, func() bool {
		streams, queued, _ = server.StreamState(x.s)
		running = x.svc.Running.Load()
		return streams == 0 && queued == 0 && running == 0
	}) {
		t.Fatalf("after the connection closed: %d streams holding %d messages, %d stream methods running",
			streams, queued, running)
	}
}

// sfPoll reports whether cond held within d. It yields between checks instead of
// sleeping: a short time.Sleep costs a millisecond, which would dominate an iteration.
func sfPoll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}
