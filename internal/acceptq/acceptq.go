// Package acceptq is the accept side shared by listeners that hand out connections over
// one shared socket and prepare each connection in its own goroutine (a stream to open, a
// handshake to finish) before Accept may return it: the QUIC and KCP transports.
//
// A Queue keeps the bookkeeping such a listener needs:
//
//   - Accept returns the connections given to Deliver, net.ErrClosed after Close, or the
//     error given to Fail;
//   - Go runs the per-connection goroutines with a context that ends at Close or Fail, and
//     Close waits for them, so a slow peer neither holds up Accept nor outlives the
//     listener;
//   - Admit counts a connection as live and Release uncounts it once it has finished
//     closing; the shared socket is released (the function given to New) once the queue
//     is closed and no admitted connection is live, so that connections already accepted
//     keep working after the listener is closed (Server.Shutdown drains them).
//
// A connection goes through Admit, then Deliver; its Close calls Release. If Admit
// refuses, the listener closes the connection without Release; if Deliver refuses, it
// closes the connection, which releases it as usual.
package acceptq

import (
	"context"
	"net"
	"sync"
)

// Queue is a listener's accept queue and connection count. Make one with New; its methods
// may be called from any goroutine.
type Queue struct {
	conns   chan net.Conn
	done    chan struct{} // closed by Close
	failed  chan struct{} // closed by Fail
	ctx     context.Context
	cancel  context.CancelFunc
	release func()
	wg      sync.WaitGroup // the goroutines started by Go

	mu       sync.Mutex
	closed   bool
	err      error // given to Fail
	live     int   // admitted and not yet released
	released bool  // release has been called
}

// New returns an open Queue. release closes what the connections share (the socket); it
// is called once, by Close or by the last Release after Close, whichever comes last.
func New(release func()) *Queue {
	q := &Queue{
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		failed:  make(chan struct{}),
		release: release,
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	return q
}

// Go runs f in a new goroutine that Close waits for; f's context ends at Close or Fail.
// After Close it runs nothing and returns false.
func (q *Queue) Go(f func(ctx context.Context)) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.wg.Add(1) // under mu, so before Close's Wait
	go func() {
		defer q.wg.Done()
		f(q.ctx)
	}()
	return true
}

// Admit counts a new connection as live, so that the socket outlives it. After Close or
// Fail it returns false and counts nothing: the caller closes the connection without
// calling Release.
func (q *Queue) Admit() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.err != nil {
		return false
	}
	q.live++
	return true
}

// Release uncounts a connection that Admit counted, once it has finished closing. The
// last one after Close releases the socket.
func (q *Queue) Release() {
	q.mu.Lock()
	q.live--
	last := q.lastLocked()
	q.mu.Unlock()
	if last {
		q.release()
	}
}

// lastLocked reports whether the socket is to be released now, and marks it released.
func (q *Queue) lastLocked() bool {
	if !q.closed || q.live > 0 || q.released {
		return false
	}
	q.released = true
	return true
}

// Deliver waits until Accept takes c and returns true, or returns false once the queue is
// closed or has failed; then the caller closes c.
func (q *Queue) Deliver(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.done:
		return false
	case <-q.failed:
		return false
	}
}

// Fail records why no more connections will come (the socket failed): Accept returns err
// from then on, the context of Go's functions ends, and Admit and Deliver refuse. Only
// the first error is kept, and none after Close. The socket is still released by Close.
func (q *Queue) Fail(err error) {
	q.mu.Lock()
	if q.closed || q.err != nil {
		q.mu.Unlock()
		return
	}
	q.err = err
	close(q.failed)
	q.mu.Unlock()
	q.cancel()
}

// Accept waits for a delivered connection. It returns net.ErrClosed after Close, and the
// error given to Fail after Fail (until Close).
func (q *Queue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	case <-q.failed:
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.closed {
			return nil, net.ErrClosed
		}
		return nil, q.err
	}
}

// Close stops the queue: Accept returns net.ErrClosed, Admit, Deliver and Go refuse, and
// the context of Go's functions ends. It waits for those functions to return, and
// releases the socket now if no admitted connection is live, or else at the last Release.
// A second Close returns net.ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return net.ErrClosed
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
	q.mu.Lock()
	last := q.lastLocked()
	q.mu.Unlock()
	if last {
		q.release()
	}
	return nil
}
