package testsvc

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/brisk-rpc/brisk/server"
)

// Streams is a test service of stream methods.
type Streams struct {
	// Running counts stream methods that have started and not returned.
	Running atomic.Int64
	// Ended receives each stream method's Recv/Send error when a Block stream ends.
	Ended chan error
	// Entered receives a value when a Block stream has started.
	Entered chan struct{}
}

// NewStreams returns a Streams service.
func NewStreams() *Streams {
	return &Streams{Ended: make(chan error, 64), Entered: make(chan struct{}, 64)}
}

// Chunk is a stream message of test data.
type Chunk struct {
	Seq  int
	Data []byte
}

// Echo sends back every message it receives, until the client closes its side.
func (s *Streams) Echo(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	for {
		var c Chunk
		if err := st.Recv(&c); err == io.EOF {
			server.SetResponseMetadata(ctx, "echoed", "yes")
			return nil
		} else if err != nil {
			return err
		}
		if err := st.Send(&c); err != nil {
			return err
		}
	}
}

// Sum receives numbers until the client closes its side and sends their sum (a client
// stream).
func (s *Streams) Sum(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	total := 0
	for {
		var n int
		if err := st.Recv(&n); err == io.EOF {
			return st.Send(total)
		} else if err != nil {
			return err
		}
		total += n
	}
}

// Count receives one number n and sends 0..n-1 (a server stream).
func (s *Streams) Count(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	var n int
	if err := st.Recv(&n); err != nil {
		return err
	}
	for i := range n {
		if err := st.Send(i); err != nil {
			return err
		}
	}
	return nil
}

// Fail receives one message and fails with its text.
func (s *Streams) Fail(ctx context.Context, st *server.Stream) error {
	var text string
	if err := st.Recv(&text); err != nil {
		return err
	}
	return errors.New(text)
}

// Block sends nothing and waits in Recv until the stream ends; the error goes to Ended.
func (s *Streams) Block(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	s.Entered <- struct{}{}
	var c Chunk
	err := st.Recv(&c)
	for err == nil {
		err = st.Recv(&c)
	}
	s.Ended <- err
	return err
}

// Flood sends Chunk messages of 32 KiB until Send fails; the error goes to Ended.
func (s *Streams) Flood(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	s.Entered <- struct{}{}
	c := Chunk{Data: make([]byte, 32<<10)}
	var err error
	for err == nil {
		c.Seq++
		err = st.Send(&c)
	}
	s.Ended <- err
	return err
}

// Stall receives nothing and waits until the stream is cancelled; ctx's error goes to Ended.
func (s *Streams) Stall(ctx context.Context, st *server.Stream) error {
	s.Running.Add(1)
	defer s.Running.Add(-1)
	s.Entered <- struct{}{}
	<-ctx.Done()
	s.Ended <- ctx.Err()
	return ctx.Err()
}
