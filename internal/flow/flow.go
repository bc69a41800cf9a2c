// Package flow holds what the client and the server share about streams: the frame kinds
// of brisk's stream protocol and the per-stream flow control.
//
// Each direction of a stream has a credit window. A sender may send a message while its
// credit is positive; each message costs Cost(len(payload)) (so the credit may go below
// zero by at most one message). The receiver queues messages without ever blocking its
// connection's read loop, and grants credit back (a window frame) as the application
// consumes them. A receiver therefore never holds more than its window plus one message
// per stream, and one fast stream can neither starve the connection's calls nor other
// streams.
package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

// Frame kinds: the service method of a frame under protocol.StreamService.
const (
	KindOpen   = protocol.StreamOpen   // metadata MethodKey names the method
	KindMsg    = protocol.StreamMsg    // the payload encoded with the stream's codec
	KindEOF    = protocol.StreamEOF    // the client sends no more
	KindWindow = protocol.StreamWindow // the payload a 4-byte big-endian count
	KindCancel = protocol.StreamCancel // the client gave the stream up
	KindEnd    = protocol.StreamEnd    // Error status carries the method's error
)

// maxWriteBacklog is how much a connection's writer may hold before stream messages wait
// for it to drain: calls and control frames never wait, so they overtake stream data, and
// the writer's batches stay small enough for it to keep its buffers.
const maxWriteBacklog = 512 << 10

// WaitWriter waits, before a stream message is written to w, until w's backlog is below
// the bound. It returns wire.ErrWaitAborted if done closes first (the caller knows why),
// or the writer's error if it failed.
func WaitWriter(done <-chan struct{}, w *wire.Writer) error {
	if w.Queued() < maxWriteBacklog {
		return nil
	}
	return w.WaitBelow(done, maxWriteBacklog)
}

// MethodKey is the open frame's metadata key naming the stream method ("Service.Method").
const MethodKey = "_brisk.method"

// InitialWindow is the credit each side starts with in each direction, before any window
// frame: a receiver with a larger window grants the difference right after the open.
const InitialWindow = 256 << 10

// DefaultWindow is the receive window brisk uses by default.
const DefaultWindow = 1 << 20

// frameCost is what a message costs beyond its payload, so empty messages are not free.
const frameCost = 64

// Cost is the credit a message with an n-byte payload consumes.
func Cost(n int) int64 { return int64(n) + frameCost }

// ErrViolated ends a stream whose peer sent more than its credit allowed.
var ErrViolated = errors.New("brisk: stream flow control violated by the peer")

// WindowPayload encodes a credit grant.
func WindowPayload(dst []byte, n int64) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(min(n, 1<<31-1)))
}

// ParseWindow decodes a credit grant; false means a malformed payload.
func ParseWindow(p []byte) (int64, bool) {
	if len(p) != 4 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(p)), true
}

// Flow is one stream's flow control and receive queue. One goroutine may send while another
// receives; Deliver, Grant, Finish and Abort come from the connection.
type Flow struct {
	mu sync.Mutex

	credit  int64
	sendErr error         // set when sending is no longer possible
	sendSig chan struct{} // wakes a sender waiting for credit

	queue   []*protocol.Message
	head    int
	queued  int64 // cost of the queued messages
	limit   int64 // most the peer may have outstanding
	window  int64
	unacked int64 // consumed and not yet granted back
	recvEnd error // what Next returns once the queue is empty: io.EOF or the peer's error
	recvSig chan struct{}

	aborted error
	done    chan struct{}
}

// New returns a Flow that may send InitialWindow bytes before any grant and receives into a
// window of window bytes (at least InitialWindow), accepting messages of up to maxMessage.
func New(window int64, maxMessage int) *Flow {
	window = max(window, InitialWindow)
	return &Flow{
		credit:  InitialWindow,
		window:  window,
		limit:   window + Cost(maxMessage),
		sendSig: make(chan struct{}, 1),
		recvSig: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// InitialGrant is the credit to grant right after the open: the window beyond InitialWindow.
func (f *Flow) InitialGrant() int64 { return f.window - InitialWindow }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Acquire waits for positive credit and takes cost from it. It returns the error that ended
// sending, or ctx's error.
func (f *Flow) Acquire(ctx context.Context, cost int64) error {
	for {
		f.mu.Lock()
		if err := f.sendErrLocked(); err != nil {
			f.mu.Unlock()
			return err
		}
		if f.credit > 0 {
			f.credit -= cost
			f.mu.Unlock()
			return nil
		}
		f.mu.Unlock()
		select {
		case <-f.sendSig:
		case <-f.done:
		case <-ctx.Done():
			if err := f.Err(); err != nil {
				return err
			}
			return ctx.Err()
		}
	}
}

func (f *Flow) sendErrLocked() error {
	if f.aborted != nil {
		return f.aborted
	}
	return f.sendErr
}

// Grant adds credit the peer granted.
func (f *Flow) Grant(n int64) {
	f.mu.Lock()
	f.credit += n
	f.mu.Unlock()
	signal(f.sendSig)
}

// StopSending makes Acquire fail with err from now on (the first error set stays).
func (f *Flow) StopSending(err error) {
	f.mu.Lock()
	if f.sendErr == nil {
		f.sendErr = err
	}
	f.mu.Unlock()
	signal(f.sendSig)
}

// Deliver queues a message from the peer; the Flow owns m from now on. It reports false if
// the peer exceeded its credit (m is then freed, and the caller should end the stream
// with ErrViolated). A message arriving after the receive side ended is dropped.
func (f *Flow) Deliver(m *protocol.Message) bool {
	cost := Cost(len(m.Payload))
	f.mu.Lock()
	if f.aborted != nil || f.recvEnd != nil {
		f.mu.Unlock()
		protocol.FreeMsg(m)
		return true
	}
	if f.queued+cost > f.limit {
		f.mu.Unlock()
		protocol.FreeMsg(m)
		return false
	}
	f.queued += cost
	f.queue = append(f.queue, m)
	f.mu.Unlock()
	signal(f.recvSig)
	return true
}

// Finish says the peer sends no more: Next returns err (io.EOF or the peer's error) once
// the queued messages are consumed. The first call wins.
func (f *Flow) Finish(err error) {
	f.mu.Lock()
	if f.recvEnd == nil {
		f.recvEnd = err
	}
	f.mu.Unlock()
	signal(f.recvSig)
}

// Next returns the next message, which the caller must free with protocol.FreeMsg, and
// the credit to grant back to the peer now (0: not yet worth a frame). Once the peer
// finished and the queue is empty it returns the finishing error; after Abort, the abort
// error; if ctx ends first, ctx's error.
func (f *Flow) Next(ctx context.Context) (*protocol.Message, int64, error) {
	for {
		f.mu.Lock()
		if f.aborted != nil {
			err := f.aborted
			f.mu.Unlock()
			return nil, 0, err
		}
		if f.head < len(f.queue) {
			m := f.queue[f.head]
			f.queue[f.head] = nil
			f.head++
			if f.head == len(f.queue) {
				f.queue, f.head = f.queue[:0], 0
			}
			cost := Cost(len(m.Payload))
			f.queued -= cost
			f.unacked += cost
			var grant int64
			// Granting in quarters of the window keeps the sender busy without a window
			// frame per message.
			if f.recvEnd == nil && f.unacked >= f.window/4 {
				grant, f.unacked = f.unacked, 0
			}
			f.mu.Unlock()
			return m, grant, nil
		}
		if f.recvEnd != nil {
			err := f.recvEnd
			f.mu.Unlock()
			return nil, 0, err
		}
		f.mu.Unlock()
		select {
		case <-f.recvSig:
		case <-f.done:
		case <-ctx.Done():
			if err := f.Err(); err != nil {
				return nil, 0, err
			}
			return nil, 0, ctx.Err()
		}
	}
}

// Abort ends both directions with err at once and frees the queued messages. It reports
// whether this call aborted the Flow (false: it had been aborted already).
func (f *Flow) Abort(err error) bool {
	f.mu.Lock()
	if f.aborted != nil {
		f.mu.Unlock()
		return false
	}
	f.aborted = err
	q := f.queue[f.head:]
	f.queue, f.head, f.queued = nil, 0, 0
	close(f.done)
	f.mu.Unlock()
	for _, m := range q {
		protocol.FreeMsg(m)
	}
	return true
}

// Err returns the abort error, or nil.
func (f *Flow) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.aborted
}

// Done is closed when the Flow is aborted.
func (f *Flow) Done() <-chan struct{} { return f.done }

// Queued returns the number and total cost of messages waiting to be received.
func (f *Flow) Queued() (int, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue) - f.head, f.queued
}

// Frame prepares m as a stream frame of the given kind: type typ, stream id, no payload.
// A request frame is oneway (only the open expects an answer: its stream's frames).
func Frame(m *protocol.Message, typ protocol.MessageType, id uint64, kind string) {
	m.SetMessageType(typ)
	m.SetOneway(typ == protocol.Request && kind != KindOpen)
	m.SetSeq(id)
	m.ServicePath = protocol.StreamService
	m.ServiceMethod = kind
}
