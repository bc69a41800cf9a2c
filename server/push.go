package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/protocol"
)

// PushMode says what SendMessage does when a client reads its pushes more slowly than they
// come and its connection's push queue is full.
type PushMode int

const (
	// PushBlock makes SendMessage wait for room up to PushPolicy.BlockTimeout, then fail
	// with ErrPushTimeout. Nothing is lost silently.
	PushBlock PushMode = iota
	// PushDropOldest drops the oldest queued push to make room, and counts it
	// (PushStats.Dropped). The client sees a gap in the pushes' sequence numbers.
	PushDropOldest
	// PushDisconnect closes the connection of a client that cannot keep up; SendMessage
	// fails with ErrSlowConsumer.
	PushDisconnect
)

// PushPolicy bounds what a slow client can cost the server: each connection has a queue of
// at most Queue pushes, written out only while the connection's unsent backlog is under
// HighWater bytes; when the queue is full, OnFull decides.
type PushPolicy struct {
	OnFull       PushMode
	Queue        int           // pushes waiting per connection (default 1024)
	HighWater    int           // unsent bytes beyond which pushes wait (default 1 MiB)
	BlockTimeout time.Duration // how long PushBlock waits for room (default 1 s)
}

// WithPushPolicy sets how the server treats clients that read pushes slowly (default:
// PushBlock with a 1024-push queue, a 1 MiB backlog and a 1 s timeout).
func WithPushPolicy(p PushPolicy) Option { return func(s *Server) { s.pushPolicy = p } }

func (p PushPolicy) withDefaults() PushPolicy {
	if p.Queue <= 0 {
		p.Queue = 1024
	}
	if p.HighWater <= 0 {
		p.HighWater = 1 << 20
	}
	if p.BlockTimeout <= 0 {
		p.BlockTimeout = time.Second
	}
	return p
}

// Errors of SendMessage under a PushPolicy.
var (
	// ErrPushTimeout says a PushBlock push found no room in time.
	ErrPushTimeout = errors.New("brisk: push queue full: the client reads too slowly")
	// ErrSlowConsumer says a PushDisconnect connection was closed for not keeping up.
	ErrSlowConsumer = errors.New("brisk: client closed for reading pushes too slowly")
)

// PushStats counts a connection's pushes.
type PushStats struct {
	Sent    uint64 // handed to the connection
	Dropped uint64 // dropped by PushDropOldest
	Queued  int    // waiting now
}

// PushStats returns the push counts of the connection nc (from ActiveClientConn or
// RemoteConn).
func (s *Server) PushStats(nc net.Conn) (PushStats, bool) {
	s.mu.Lock()
	c := s.conns[nc]
	s.mu.Unlock()
	if c == nil {
		return PushStats{}, false
	}
	p := c.pusher()
	p.mu.Lock()
	defer p.mu.Unlock()
	return PushStats{Sent: p.sent.Load(), Dropped: p.dropped.Load(), Queued: len(p.queue)}, true
}

// pushQueue is one connection's queue of pushes and the goroutine that writes them out
// (running only while there is something to write).
type pushQueue struct {
	c      *conn
	policy PushPolicy

	mu      sync.Mutex
	queue   []*protocol.Message
	room    chan struct{} // closed when a push leaves the queue; nil if nobody waits
	running bool
	seq     uint64

	sent, dropped atomic.Uint64
}

func (c *conn) pusher() *pushQueue {
	c.pushOnce.Do(func() { c.pushes = &pushQueue{c: c, policy: c.srv.pushPolicy} })
	return c.pushes
}

// push queues a server-initiated oneway request to the client, under the server's policy.
func (c *conn) push(servicePath, serviceMethod string, md map[string]string, data []byte) error {
	m := &protocol.Message{ServicePath: servicePath, ServiceMethod: serviceMethod, Metadata: md, Payload: data}
	m.Header[0] = protocol.MagicNumber
	m.SetOneway(true)
	m.SetSerializeType(protocol.SerializeNone)
	return c.pusher().enqueue(m)
}

func (q *pushQueue) enqueue(m *protocol.Message) error {
	var deadline *time.Timer
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	q.mu.Lock()
	if len(q.queue) == 0 && !q.running && q.c.w.Backlog() < q.policy.HighWater {
		// The client keeps up: hand the frame to the connection at once (without waiting
		// for the socket), so a push sent by a handler goes out before that handler's
		// reply, as with rpcx.
		q.seq++
		m.SetSeq(q.seq)
		q.sent.Add(1)
		err := q.c.w.WriteMessageAsync(m)
		q.mu.Unlock()
		return err
	}
	for len(q.queue) >= q.policy.Queue {
		switch q.policy.OnFull {
		case PushDropOldest:
			q.queue[0] = nil
			q.queue = q.queue[1:]
			q.dropped.Add(1)
		case PushDisconnect:
			q.mu.Unlock()
			q.c.close()
			return ErrSlowConsumer
		default:
			if q.room == nil {
				q.room = make(chan struct{})
			}
			room := q.room
			q.mu.Unlock()
			if deadline == nil {
				deadline = time.NewTimer(q.policy.BlockTimeout)
			}
			select {
			case <-room:
			case <-deadline.C:
				return ErrPushTimeout
			case <-q.c.ctx.Done():
				return ErrUnknownConn
			}
			q.mu.Lock()
		}
	}
	q.seq++
	m.SetSeq(q.seq) // in queue order, so a client sees drops as gaps
	q.queue = append(q.queue, m)
	if !q.running {
		q.running = true
		go q.run()
	}
	q.mu.Unlock()
	return nil
}

// run writes queued pushes in order, each once the connection's backlog allows, and ends
// when the queue is empty or the connection closes.
func (q *pushQueue) run() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		if err := q.c.w.WaitBelow(q.c.ctx.Done(), q.policy.HighWater); err != nil {
			q.mu.Lock()
			q.running = false
			q.queue = nil
			q.mu.Unlock()
			return
		}
		q.mu.Lock()
		if len(q.queue) == 0 { // dropped meanwhile
			q.mu.Unlock()
			continue
		}
		m := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		if q.room != nil {
			close(q.room)
			q.room = nil
		}
		q.sent.Add(1) // under mu, so PushStats always adds up
		q.mu.Unlock()
		_ = q.c.w.WriteMessageAsync(m) // a failure closes the connection, which its reader notices
	}
}
