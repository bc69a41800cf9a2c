package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/brisk-rpc/brisk/internal/wire"
	"github.com/brisk-rpc/brisk/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingConn records every Write call.
type countingConn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error
	closed bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes++
	return c.buf.Write(p)
}

func (c *countingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func frame(seq uint64) *protocol.Message {
	m := protocol.NewMessage()
	m.SetSeq(seq)
	m.ServicePath, m.ServiceMethod = "Arith", "Mul"
	m.Payload = []byte("payload")
	return m
}

// pipeConn is the write side of an io.Pipe that counts Write calls.
type pipeConn struct {
	*io.PipeWriter
	writes atomic.Int64
}

func (p *pipeConn) Write(b []byte) (int, error) {
	p.writes.Add(1)
	return p.PipeWriter.Write(b)
}

func TestConcurrentFramesArriveWhole(t *testing.T) {
	const goroutines, each = 16, 200
	pr, pw := io.Pipe()
	c := &pipeConn{PipeWriter: pw}
	w := wire.NewWriter(c)

	// The reader decodes until it has every frame: WriteMessage may return before its frame
	// is written (another goroutine flushes it), so only the reader knows when all arrived.
	result := make(chan error, 1)
	go func() {
		r := bufio.NewReader(pr)
		seen := make(map[uint64]bool)
		m := protocol.NewMessage()
		for len(seen) < goroutines*each {
			if err := m.Decode(r, 0); err != nil {
				result <- err
				return
			}
			if seen[m.Seq()] || m.ServicePath != "Arith" || string(m.Payload) != "payload" {
				result <- fmt.Errorf("frame seq %d duplicated or damaged", m.Seq())
				return
			}
			seen[m.Seq()] = true
		}
		result <- nil
	}()

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := w.WriteMessage(frame(uint64(g*each + i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	_ = pr.Close()
	if n := c.writes.Load(); n > goroutines*each {
		t.Fatalf("%d writes for %d frames", n, goroutines*each)
	}
}

func TestWriteErrorBreaksWriter(t *testing.T) {
	boom := errors.New("boom")
	c := &countingConn{err: boom}
	w := wire.NewWriter(c)
	if err := w.WriteMessage(frame(1)); !errors.Is(err, boom) {
		t.Fatalf("first write: %v, want boom", err)
	}
	if !c.closed {
		t.Fatal("a failed write must close the connection")
	}
	if err := w.WriteMessage(frame(2)); !errors.Is(err, boom) {
		t.Fatalf("later write: %v, want the same error", err)
	}
}

func TestFailAndCloseWhenFlushed(t *testing.T) {
	tests := []struct {
		name  string
		apply func(*wire.Writer)
	}{
		{"fail", func(w *wire.Writer) { w.Fail(net.ErrClosed) }},
		{"close when flushed", func(w *wire.Writer) { w.CloseWhenFlushed() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingConn{}
			w := wire.NewWriter(c)
			if err := w.WriteMessage(frame(1)); err != nil {
				t.Fatal(err)
			}
			tt.apply(w)
			if err := w.WriteMessage(frame(2)); err == nil {
				t.Fatal("write after the writer ended succeeded")
			}
			if c.writes != 1 {
				t.Fatalf("%d writes, want 1", c.writes)
			}
		})
	}
}

func TestBufferPool(t *testing.T) {
	bp := wire.GetBuffer()
	if len(*bp) != 0 {
		t.Fatal("pooled buffer not empty")
	}
	*bp = append(*bp, "data"...)
	wire.PutBuffer(bp)
	if bp2 := wire.GetBuffer(); len(*bp2) != 0 {
		t.Fatal("reused buffer not reset")
	}
}
