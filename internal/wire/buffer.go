package wire

import "sync"

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// GetBuffer returns an empty pooled buffer. Return it with PutBuffer.
func GetBuffer() *[]byte {
	bp := bufPool.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

// PutBuffer returns a buffer to the pool unless it grew too large to keep.
func PutBuffer(bp *[]byte) {
	if cap(*bp) <= maxKeptBuffer {
		bufPool.Put(bp)
	}
}
