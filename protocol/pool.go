package protocol

import "sync"

// maxPooledBuffer keeps one huge message from pinning its buffers in the pool forever.
const maxPooledBuffer = 1 << 20

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
	m.Reset()
	if cap(m.body) > maxPooledBuffer {
		m.body = nil
	}
	if cap(m.zbuf) > maxPooledBuffer {
		m.zbuf = nil
	}
	if len(m.Metadata) > 64 {
		m.Metadata = nil
	}
	msgPool.Put(m)
}
