package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// The fuzzed client's limits: a small window, so padding overruns it (a flow-control
// violation), and a small message size, so one header can claim too large a frame.
const (
	cfMaxMessage = 128 << 10
	cfWindow     = flow.InitialWindow
	cfMaxFrames  = 64
	cfPadUnit    = 2 << 10
)

var cfSerials = [...]protocol.SerializeType{
	protocol.MsgPack, protocol.MsgPack, protocol.JSON, protocol.SerializeNone,
	protocol.ProtoBuffer, protocol.Thrift, 7, 15,
}

// Server-side frame kinds of the fuzzer's input.
const (
	cfMsg = iota
	cfWin
	cfEnd
	cfEndError
	cfErrorResponse // a non-stream error answer to the open, as an rpcx server sends
	cfOtherID
	cfGarbage
	cfPush
	cfKinds
	cfBadMagic = 0xFE // breaks the connection
	cfTooLarge = 0xFF // breaks the connection
)

// cfPlan is what the client does and what the fake server answers.
type cfPlan struct {
	target  int  // what Recv decodes into
	late    bool // Recv starts once every frame was written (so the window can overrun)
	sends   int  // messages the client sends
	sendLen int
	frames  [][]byte
	msgs    int  // msg frames for the stream
	fatal   bool // the last frame breaks the connection
}

// cfFrames turns the fuzzer's bytes into the fake server's frames for stream id.
func cfFrames(data []byte, id uint64) cfPlan {
	in := &testsvc.FuzzInput{B: data}
	t := in.Byte()
	p := cfPlan{target: int(t&0x7F) % 5, late: t&0x80 != 0, sends: int(in.Byte() % 16), sendLen: int(in.Byte()) << 8}
	for len(in.B) > 0 && len(p.frames) < cfMaxFrames {
		op := in.Byte()
		switch op {
		case cfBadMagic:
			h := make([]byte, protocol.HeaderSize)
			h[0] = protocol.MagicNumber ^ 0xFF
			copy(h[1:], in.Take(protocol.HeaderSize-1))
			p.frames, p.fatal = append(p.frames, h), true
			return p
		case cfTooLarge:
			m := protocol.NewMessage()
			m.SetMessageType(protocol.Response)
			m.SetSeq(id)
			h := m.Encode()[:protocol.HeaderSize]
			binary.BigEndian.PutUint32(h[12:], cfMaxMessage+1+uint32(in.Byte())<<16)
			p.frames, p.fatal = append(p.frames, h), true
			return p
		}
		m := protocol.NewMessage()
		var raw []byte
		switch op % cfKinds {
		case cfMsg:
			flow.Frame(m, protocol.Response, id, flow.KindMsg)
			testsvc.FuzzMessage(in, m, cfSerials[:], cfPadUnit)
		case cfWin:
			flow.Frame(m, protocol.Response, id, flow.KindWindow)
			m.Payload = testsvc.FuzzWindow(in)
		case cfEnd:
			flow.Frame(m, protocol.Response, id, flow.KindEnd)
			if in.Byte()&1 != 0 {
				m.Metadata = map[string]string{"trailer": string(in.Take(8)), protocol.ServiceError: "ignored"}
			}
		case cfEndError:
			flow.Frame(m, protocol.Response, id, flow.KindEnd)
			m.SetMessageStatusType(protocol.Error)
			if in.Byte()&1 != 0 {
				m.Metadata = map[string]string{protocol.ServiceError: string(in.Take(16))}
			}
		case cfErrorResponse:
			m.SetMessageType(protocol.Response)
			m.SetSeq(id)
			m.ServicePath, m.ServiceMethod = "Streams", "Echo"
			sel := in.Byte()
			if sel&1 != 0 {
				m.ServicePath, m.ServiceMethod = "", ""
			}
			if sel&2 != 0 { // an answer without an error: an rpcx server would not, but may
				m.Payload = in.Take(int(sel >> 2))
			} else {
				m.SetMessageStatusType(protocol.Error)
				m.Metadata = map[string]string{protocol.ServiceError: "rpcx: can't find service _brisk.Stream"}
			}
		case cfOtherID:
			kinds := []string{flow.KindMsg, flow.KindWindow, flow.KindEnd, flow.KindOpen, flow.KindCancel}
			sel := in.Byte()
			other := []uint64{id + 1, id - 1, 0, 1<<64 - 1}[sel&3]
			flow.Frame(m, protocol.Response, other, kinds[int(sel>>2)%len(kinds)])
			m.Payload = in.Take(int(in.Byte() % 32))
			if sel&0x80 != 0 {
				m.SetMessageStatusType(protocol.Error)
			}
		case cfGarbage:
			switch sel := in.Byte(); sel % 4 {
			case 0: // an unknown stream frame kind
				flow.Frame(m, protocol.Response, id, string(in.Take(int(in.Byte()%8))))
				m.Payload = in.Take(int(in.Byte() % 32))
			case 1: // a stream frame from the wrong side
				kinds := []string{flow.KindMsg, flow.KindEnd, flow.KindWindow, flow.KindOpen}
				flow.Frame(m, protocol.Request, id, kinds[sel>>2&3])
				m.SetOneway(sel&0x10 != 0)
				m.Payload = in.Take(int(in.Byte() % 32))
			case 2: // a whole frame whose body is anything
				m.Header[2] = in.Byte()
				m.Header[3] = in.Byte()
				m.SetSeq(id)
				m.SetMessageType(protocol.Response)
				body := in.Take(int(in.Byte()))
				raw = append(m.Encode()[:12], 0, 0, 0, 0)
				binary.BigEndian.PutUint32(raw[12:], uint32(len(body)))
				raw = append(raw, body...)
			case 3: // a stream frame with odd flags and metadata
				flow.Frame(m, protocol.Response, id, flow.KindMsg)
				m.Header[2] = in.Byte() | 0x80 // a response, any flags
				m.Metadata = map[string]string{"": "", protocol.ServiceError: "x"}
				m.Payload = in.Take(int(in.Byte() % 32))
			}
		case cfPush:
			m.SetOneway(true)
			m.SetSeq(id)
			m.ServicePath, m.ServiceMethod = "Push", "Note"
			m.Payload = in.Take(int(in.Byte() % 32))
		}
		if raw == nil {
			raw = m.Encode()
		}
		// Whatever built it, a frame the client reads as a message of the stream is one.
		if d := protocol.NewMessage(); d.DecodeBytes(raw, cfMaxMessage) == nil && d.MessageType() == protocol.Response &&
			d.ServicePath == protocol.StreamService && d.ServiceMethod == flow.KindMsg && d.Seq() == id {
			p.msgs++
		}
		p.frames = append(p.frames, raw)
	}
	return p
}

// cfServer is the fake server's reading side: it drains and checks the client's frames
// and reports the stream's id.
func cfServer(nc net.Conn, opened chan<- uint64, errs chan<- error) {
	var id uint64
	seen := false
	for {
		frame, err := testsvc.ReadFrame(nc)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
			}
			errs <- err
			return
		}
		m := protocol.NewMessage()
		if err := m.DecodeBytes(frame, 0); err != nil {
			errs <- fmt.Errorf("client sent a bad frame: %w", err)
			return
		}
		if m.ServicePath != protocol.StreamService {
			continue // a heartbeat or a call
		}
		if m.MessageType() != protocol.Request {
			errs <- fmt.Errorf("client sent a stream frame %q that is not a request", m.ServiceMethod)
			return
		}
		switch m.ServiceMethod {
		case flow.KindOpen:
			if seen {
				errs <- errors.New("client opened a second stream")
				return
			}
			seen, id = true, m.Seq()
			opened <- id
			continue
		case flow.KindMsg, flow.KindEOF, flow.KindCancel:
		case flow.KindWindow:
			if _, ok := flow.ParseWindow(m.Payload); !ok {
				errs <- fmt.Errorf("client sent a malformed window % x", m.Payload)
				return
			}
		default:
			errs <- fmt.Errorf("client sent stream frame kind %q", m.ServiceMethod)
			return
		}
		if !seen || m.Seq() != id {
			errs <- fmt.Errorf("client sent %q for stream %d; it opened %d (%v)", m.ServiceMethod, m.Seq(), id, seen)
			return
		}
	}
}

// cfTerminal reports whether a Recv error ends the stream (others are one message's).
func cfTerminal(err error) bool {
	var te *client.TransportError
	return errors.Is(err, io.EOF) || client.IsServiceError(err) || errors.Is(err, flow.ErrViolated) ||
		errors.Is(err, client.ErrStreamClosed) || errors.As(err, &te)
}

// FuzzClientStreamFrames opens a stream to a fake server that answers with fuzzed frames
// (messages of any codec and payload, up to an overrun of the window; window grants of any
// value and malformed ones; ends with and without an error; error answers to the open;
// frames for other ids; garbage; pushes; a header that breaks the connection), then ends
// the stream, while the client sends a few messages. The client must not panic, must send
// only well-formed frames for its stream, and each Recv must return within a bound: a
// message, a decoding error for one message, or at the end a terminal error (io.EOF, a
// ServiceError, the flow-control violation, a TransportError), after no more Recvs than
// messages sent plus one. The sender must return after Close, Close must leave no stream
// open in the client, and the client must close within a bound.
func FuzzClientStreamFrames(f *testing.F) {
	chunk := []byte{0x82, 0xA3, 'S', 'e', 'q', 0x01, 0xA4, 'D', 'a', 't', 'a', 0xC4, 0x01, 'x'}
	seed := func(target, sends, sendLen byte, ops ...[]byte) []byte {
		b := []byte{target, sends, sendLen}
		for _, op := range ops {
			b = append(b, op...)
		}
		return b
	}
	msg := func(flags byte, payload []byte) []byte {
		return append([]byte{cfMsg, flags, byte(len(payload))}, payload...)
	}
	f.Add(seed(0, 0, 0))
	f.Add(seed(0, 2, 1, msg(0, chunk), msg(0, chunk), []byte{cfEnd, 1, 't', 'r'}))
	f.Add(seed(1, 0, 0, msg(2, []byte(`{"Seq":1}`)), msg(3, []byte("raw")), msg(7, []byte{1}), []byte{cfEndError, 1, 'n', 'o'}))
	f.Add(seed(2, 3, 0xFF, []byte{cfWin, 0}, []byte{cfWin, 3}, []byte{cfWin, 5}, []byte{cfWin, 6, 1, 2, 3},
		[]byte{cfWin, 7, 1, 2, 3, 4, 5}, []byte{cfWin, 1, 4}, []byte{cfEndError, 0}))
	f.Add(seed(3, 1, 0, []byte{cfErrorResponse, 0}, msg(0, chunk)))
	f.Add(seed(4, 0, 0, []byte{cfErrorResponse, 2 | 4<<2, 1, 2, 3, 4}))
	f.Add(seed(0, 0, 0, []byte{cfOtherID, 0, 1, 0}, []byte{cfOtherID, 2 << 2, 0}, []byte{cfOtherID, 0x83, 0},
		[]byte{cfPush, 2, 1, 2}, msg(0, chunk)))
	overrun := seed(0x80, 0, 0)
	for range 12 {
		overrun = append(overrun, cfMsg, 0, 0xFF)
	}
	f.Add(overrun)
	f.Add(seed(0, 1, 0, []byte{cfGarbage, 0, 3, 'z', 'z', 'z', 2, 1, 2}, []byte{cfGarbage, 1, 3, 1, 2, 3},
		[]byte{cfGarbage, 2, 0x00, 0x30, 5, 1, 2, 3, 4, 5}, []byte{cfGarbage, 3, 0x60, 2, 1, 2},
		msg(0x10, chunk), msg(0x30, chunk)))
	f.Add(seed(1, 4, 0x40, msg(0, chunk), []byte{cfBadMagic}))
	f.Add(seed(0, 0, 0, msg(0, []byte{0xDD, 0xFF, 0xFF, 0xFF, 0xFF}), msg(0, []byte{0xDF, 0x7F, 0xFF, 0xFF, 0xFF}),
		[]byte{cfTooLarge, 0}))

	opt := client.DefaultOption
	opt.MaxMessageSize = cfMaxMessage
	opt.StreamWindow = cfWindow
	opt.Retries = 0
	opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))

	f.Fuzz(func(t *testing.T, data []byte) {
		mine, theirs := net.Pipe()
		deadline := time.Now().Add(testsvc.Bound)
		_ = theirs.SetDeadline(deadline)
		c := client.NewClient(opt)
		if err := c.ConnectConn(mine); err != nil {
			t.Fatal(err)
		}
		closed := false
		closeClient := func() {
			if closed {
				return
			}
			closed = true
			done := make(chan error, 1)
			go func() { done <- c.Close() }()
			select {
			case <-done:
			case <-time.After(testsvc.Bound):
				t.Fatal("client Close hangs")
			}
		}
		defer closeClient()
		opened := make(chan uint64, 1)
		srvErr := make(chan error, 1)
		go cfServer(theirs, opened, srvErr)
		defer func() {
			_ = theirs.Close()
		}()

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := c.NewStream(ctx, "Streams.Echo")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var id uint64
		select {
		case id = <-opened:
		case err := <-srvErr:
			t.Fatalf("fake server: %v before the open", err)
		case <-time.After(testsvc.Bound):
			t.Fatal("the open never arrived")
		}
		plan := cfFrames(data, id)

		// The client sends while it receives.
		var wg sync.WaitGroup
		wg.Add(1)
		sendDone := make(chan struct{})
		go func() {
			defer wg.Done()
			defer close(sendDone)
			for i := range plan.sends {
				if st.Send(&testsvc.Chunk{Seq: i, Data: make([]byte, plan.sendLen)}) != nil {
					return
				}
			}
			_ = st.CloseSend()
		}()

		// The fake server answers, then ends the stream (unless it broke the connection).
		wg.Add(1)
		writeErr := make(chan error, 1)
		written := make(chan struct{})
		go func() {
			defer wg.Done()
			defer close(written)
			end := protocol.NewMessage()
			flow.Frame(end, protocol.Response, id, flow.KindEnd)
			frames := plan.frames
			if !plan.fatal {
				frames = append(frames, end.Encode())
			}
			for _, fr := range frames {
				if _, err := theirs.Write(fr); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		}()

		if plan.late {
			select {
			case <-written:
			case <-time.After(testsvc.Bound):
				t.Fatal("the client stopped reading")
			}
		}
		recvDone := make(chan error, 1)
		go func() {
			for n := 0; ; n++ {
				var err error
				switch plan.target {
				case 0:
					var v testsvc.Chunk
					err = st.Recv(&v)
				case 1:
					var v any
					err = st.Recv(&v)
				case 2:
					var v []byte
					err = st.Recv(&v)
				case 3:
					var v int
					err = st.Recv(&v)
				case 4:
					var v map[string]any
					err = st.Recv(&v)
				}
				if err != nil && cfTerminal(err) {
					recvDone <- err
					return
				}
				if n > plan.msgs {
					recvDone <- fmt.Errorf("Recv returned %d times (last: %v) for %d messages and no end", n+1, err, plan.msgs)
					return
				}
			}
		}()
		select {
		case err := <-recvDone:
			var te *client.TransportError
			if errors.As(err, &te) && !plan.fatal {
				t.Fatalf("Recv = %v, but the connection was never broken", err)
			}
			if errors.Is(err, client.ErrStreamClosed) {
				t.Fatalf("Recv = %v before Close", err)
			}
			if !cfTerminal(err) {
				t.Fatal(err)
			}
		case <-time.After(testsvc.Bound):
			t.Fatalf("Recv hangs after %d frames (fatal %v)", len(plan.frames), plan.fatal)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if n := client.OpenStreams(c); n != 0 {
			t.Fatalf("%d streams open after Recv ended and Close", n)
		}
		select {
		case <-sendDone:
		case <-time.After(testsvc.Bound):
			t.Fatal("Send hangs after Close")
		}
		var te *client.TransportError
		if err := st.Recv(new(any)); err == nil || !cfTerminal(err) || (errors.As(err, &te) && !plan.fatal) {
			t.Fatalf("Recv after the end = %v", err)
		}
		closeClient()
		if n := client.OpenStreams(c); n != 0 {
			t.Fatalf("%d streams open after the client closed", n)
		}
		_ = theirs.Close()
		wg.Wait()
		select {
		case err := <-srvErr:
			if err != nil {
				t.Fatalf("fake server: %v", err)
			}
		case <-time.After(testsvc.Bound):
			t.Fatal("fake server's reader hangs")
		}
		if err := <-writeErr; err != nil && !plan.fatal && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("fake server's writer: %v", err)
		}
	})
}
