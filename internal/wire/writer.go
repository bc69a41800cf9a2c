// Package wire holds what the server and client share on a connection: the coalescing
// frame writer.
package wire

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/brisk-rpc/brisk/protocol"
)

// ErrNotWritten wraps the error WriteMessage returns when the writer had already failed:
// that frame was not written at all, so its call cannot have reached the peer.
var ErrNotWritten = errors.New("frame not written")

// maxKeptBuffer bounds the write buffers a writer keeps between batches.
const maxKeptBuffer = 1 << 20

// Writer coalesces frames from many goroutines into few writes. The first goroutine to
// write while the connection is idle becomes the flusher: it writes its frame at once and
// then keeps writing, in one Write each, whatever other goroutines appended meanwhile. No
// goroutine is woken per frame and a busy connection makes one syscall per batch.
type Writer struct {
	w io.WriteCloser

	mu         sync.Mutex
	pending    []byte // frames waiting for the flusher
	spare      []byte // the other buffer, swapped with pending
	flushing   bool
	closeAfter bool
	err        error
	writing    int           // bytes of the batch being written
	queued     atomic.Int64  // bytes appended and not yet written, readable without mu
	progress   chan struct{} // closed when a batch is written or the writer fails; nil if nobody waits
}

// NewWriter returns a Writer over w.
func NewWriter(w io.WriteCloser) *Writer {
	return &Writer{w: w}
}

// WriteMessage encodes m and sends it, possibly batched with other frames. It returns the
// error that broke the connection, if any. A nil error means the frame was written or was
// handed to the goroutine flushing the connection; if that write fails the connection is
// closed, which its reader notices.
func (fw *Writer) WriteMessage(m *protocol.Message) error {
	fw.mu.Lock()
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrNotWritten, err)
	}
	n := len(fw.pending)
	fw.pending = m.AppendFrame(fw.pending)
	fw.queued.Add(int64(len(fw.pending) - n))
	if fw.flushing {
		fw.mu.Unlock()
		return nil
	}
	fw.flushing = true
	// Let goroutines that are ready to run (other callers, other handlers) append their
	// frames first: one yield turns many small writes into one large one under load, and
	// costs almost nothing when nobody else is runnable.
	fw.mu.Unlock()
	runtime.Gosched()
	fw.mu.Lock()
	err := fw.writeBatchLocked()
	if err == nil && len(fw.pending) > 0 {
		// This caller's frame is out. Frames queued during that write go out from another
		// goroutine, so the caller is not held up by other callers' writes.
		fw.mu.Unlock()
		go fw.flushRest()
		return nil
	}
	return fw.finishLocked(err)
}

// WriteMessageAsync appends m's frame after every frame appended before it and returns at
// once: a goroutine writes it if none is writing. Unlike WriteMessage it never blocks on
// the connection, so a slow peer cannot hold the caller (server pushes use it).
func (fw *Writer) WriteMessageAsync(m *protocol.Message) error {
	fw.mu.Lock()
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrNotWritten, err)
	}
	n := len(fw.pending)
	fw.pending = m.AppendFrame(fw.pending)
	fw.queued.Add(int64(len(fw.pending) - n))
	if !fw.flushing {
		fw.flushing = true
		go fw.flushRest()
	}
	fw.mu.Unlock()
	return nil
}

// flushRest writes batches until nothing is pending, then gives up the flusher role.
func (fw *Writer) flushRest() {
	fw.mu.Lock()
	var err error
	for err == nil && len(fw.pending) > 0 {
		err = fw.writeBatchLocked()
	}
	_ = fw.finishLocked(err)
}

// writeBatchLocked writes everything pending in one Write, unlocking around it.
func (fw *Writer) writeBatchLocked() error {
	buf := fw.pending
	fw.pending = fw.spare[:0]
	fw.writing = len(buf)
	fw.mu.Unlock()
	_, err := fw.w.Write(buf)
	fw.mu.Lock()
	fw.writing = 0
	fw.queued.Add(-int64(len(buf)))
	fw.wakeLocked()
	if cap(buf) <= maxKeptBuffer {
		fw.spare = buf[:0]
	} else {
		fw.spare = nil
	}
	if err != nil {
		fw.err = err
		fw.pending = nil
		fw.queued.Store(0)
	}
	return err
}

// finishLocked ends a flusher's turn and unlocks; it closes the connection after a write
// error or when CloseWhenFlushed asked for it.
func (fw *Writer) finishLocked(err error) error {
	fw.flushing = false
	fw.wakeLocked()
	closeNow := fw.closeAfter
	if closeNow && fw.err == nil {
		fw.err = io.ErrClosedPipe
	}
	fw.mu.Unlock()
	if err != nil || closeNow {
		_ = fw.w.Close()
	}
	return err
}

// CloseWhenFlushed closes the underlying connection once every frame appended so far has
// been written: at once if the writer is idle, else when the flusher finishes.
func (fw *Writer) CloseWhenFlushed() {
	fw.mu.Lock()
	if fw.flushing {
		fw.closeAfter = true
		fw.mu.Unlock()
		return
	}
	if fw.err == nil {
		fw.err = io.ErrClosedPipe
	}
	fw.wakeLocked()
	fw.mu.Unlock()
	_ = fw.w.Close()
}

// Fail marks the writer broken with err so later writes return it at once.
func (fw *Writer) Fail(err error) {
	fw.mu.Lock()
	if fw.err == nil {
		fw.err = err
	}
	fw.wakeLocked()
	fw.mu.Unlock()
}

// Queued is Backlog read without locking (it may be a moment behind): cheap enough to check
// before every request.
func (fw *Writer) Queued() int { return int(fw.queued.Load()) }

// Backlog returns the bytes handed to the writer and not yet accepted by the connection:
// a peer that reads slowly makes it grow.
func (fw *Writer) Backlog() int {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return len(fw.pending) + fw.writing
}

// WaitBelow waits until the backlog is below n bytes. It returns the writer's error if it
// fails, or ErrWaitAborted if done is closed first.
func (fw *Writer) WaitBelow(done <-chan struct{}, n int) error {
	for {
		fw.mu.Lock()
		if fw.err != nil {
			err := fw.err
			fw.mu.Unlock()
			return err
		}
		if len(fw.pending)+fw.writing < n {
			fw.mu.Unlock()
			return nil
		}
		if fw.progress == nil {
			fw.progress = make(chan struct{})
		}
		ch := fw.progress
		fw.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return ErrWaitAborted
		}
	}
}

// ErrWaitAborted is returned by WaitBelow when its done channel closes first.
var ErrWaitAborted = errors.New("wait aborted")

// wakeLocked wakes the goroutines in WaitBelow.
func (fw *Writer) wakeLocked() {
	if fw.progress != nil {
		close(fw.progress)
		fw.progress = nil
	}
}
