package protocol

import "sync"

// maxPooledBuffer keeps one huge message from pinning its buffers in the pool forever.
const maxPooledBuffer = 1 << 20

// maxPooledMetadata is the most metadata pairs a pooled message's map may have held.
const maxPooledMetadata = 64

var msgPool = sync.Pool{New: func() any { return NewMessage() }}

// GetPooledMsg returns a reset message from a pool. Give it back with FreeMsg.
func GetPooledMsg() *Message {
	return msgPool.Get().(*Message)
}

// FreeMsg resets m and returns it to the pool. m must not be used afterwards.
func FreeMsg(m *Message) {
	if m == nil {
		return
	}
	// Measure the map before Reset empties it: a map never shrinks, so one that held many
	// pairs would keep its memory in the pool forever.
	if len(m.Metadata) > maxPooledMetadata {
		m.Metadata = nil
	}
	m.Reset()
	if cap(m.body) > maxPooledBuffer {
		m.body = nil
	}
	if cap(m.zbuf) > maxPooledBuffer {
		m.zbuf = nil
	}
	msgPool.Put(m)
}
