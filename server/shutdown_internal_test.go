package server

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/protocol"
)

type echoService struct{}

func (echoService) Echo(_ context.Context, args *string, reply *string) error {
	*reply = *args
	return nil
}

// A connection accepted before Shutdown whose first request arrives during it gets a
// "shutting down" answer (which clients may retry elsewhere), not a closed connection.
func TestShutdownAnswersFirstRequestOfAcceptedConn(t *testing.T) {
	s := NewServer()
	if err := s.RegisterName("Echo", echoService{}, ""); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ln) }()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	waitFor(t, "the connection to be accepted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.sniffing) == 1
	})

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	waitFor(t, "Shutdown to begin", s.isClosing)

	req := protocol.NewMessage()
	req.SetSerializeType(protocol.JSON)
	req.SetSeq(9)
	req.ServicePath, req.ServiceMethod = "Echo", "Echo"
	req.Payload = []byte(`"hi"`)
	if _, err := nc.Write(req.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	resp := protocol.NewMessage()
	if err := resp.Decode(bufio.NewReader(nc), 1<<20); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if resp.Seq() != 9 || resp.Metadata[protocol.ServiceError] != errTextShuttingDown {
		t.Fatalf("answer seq %d, error %q; want 9, %q", resp.Seq(), resp.Metadata[protocol.ServiceError], errTextShuttingDown)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("ServeListener: %v", err)
	}
}

// waitFor polls cond for up to 5 s; it observes server state that has no event to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
