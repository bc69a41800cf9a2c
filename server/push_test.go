package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// slowClient connects a raw client that has made one call and then reads nothing, and
// returns it with its connection as the server sees it.
func slowClient(t *testing.T, s *server.Server, addr string) (net.Conn, net.Conn) {
	t.Helper()
	nc := testsvc.Dial(t, addr)
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(testsvc.GoldenRequest); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the server to hold the connection", func() bool { return len(s.ActiveClientConn()) == 1 })
	return nc, s.ActiveClientConn()[0]
}

// readPushes reads frames from nc until it has n pushes or the stream ends, and returns
// their sequence numbers.
func readPushes(t *testing.T, nc net.Conn, n int) []uint64 {
	t.Helper()
	br := bufio.NewReaderSize(nc, 1<<20)
	var seqs []uint64
	for len(seqs) < n {
		m := protocol.NewMessage()
		if err := m.Decode(br, 1<<20); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return seqs
			}
			var ne net.Error
			if errors.As(err, &ne) {
				return seqs // reset by the server
			}
			t.Fatalf("reading pushes: %v", err)
		}
		if m.MessageType() == protocol.Request && m.IsOneway() {
			seqs = append(seqs, m.Seq())
		}
	}
	return seqs
}

func TestPushPolicies(t *testing.T) {
	payload := make([]byte, 32<<10)
	const pushes = 2000
	tests := []struct {
		name   string
		policy server.PushPolicy
	}{
		{"drop oldest", server.PushPolicy{OnFull: server.PushDropOldest, Queue: 8, HighWater: 64 << 10}},
		{"block", server.PushPolicy{OnFull: server.PushBlock, Queue: 8, HighWater: 64 << 10, BlockTimeout: 20 * time.Millisecond}},
		{"disconnect", server.PushPolicy{OnFull: server.PushDisconnect, Queue: 8, HighWater: 64 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, addr := testsvc.NewArithServer(t, server.WithPushPolicy(tt.policy))
			nc, sc := slowClient(t, s, addr)
			accepted, firstErr := 0, error(nil)
			for range pushes {
				err := s.SendMessage(sc, "Game", "Rank", nil, payload)
				if err != nil {
					firstErr = err
					break
				}
				accepted++
			}
			switch tt.policy.OnFull {
			case server.PushDropOldest:
				if firstErr != nil {
					t.Fatalf("drop-oldest push failed: %v", firstErr)
				}
				st, _ := s.PushStats(sc)
				if st.Dropped == 0 || st.Sent+st.Dropped+uint64(st.Queued) != pushes {
					t.Fatalf("stats %+v do not add up to %d pushes with some dropped", st, pushes)
				}
				seqs := readPushes(t, nc, pushes-int(st.Dropped))
				if len(seqs) != pushes-int(st.Dropped) || seqs[len(seqs)-1] != pushes {
					t.Fatalf("received %d pushes ending at %d, want %d ending at %d", len(seqs), seqs[len(seqs)-1], pushes-int(st.Dropped), pushes)
				}
				assertIncreasing(t, seqs)
			case server.PushBlock:
				if !errors.Is(firstErr, server.ErrPushTimeout) || accepted < tt.policy.Queue {
					t.Fatalf("after %d pushes: %v, want ErrPushTimeout after at least %d", accepted, firstErr, tt.policy.Queue)
				}
				seqs := readPushes(t, nc, accepted)
				if len(seqs) != accepted {
					t.Fatalf("received %d of %d accepted pushes", len(seqs), accepted)
				}
				assertIncreasing(t, seqs)
			case server.PushDisconnect:
				if !errors.Is(firstErr, server.ErrSlowConsumer) || accepted < tt.policy.Queue {
					t.Fatalf("after %d pushes: %v, want ErrSlowConsumer after at least %d", accepted, firstErr, tt.policy.Queue)
				}
				seqs := readPushes(t, nc, pushes)
				if len(seqs) >= accepted {
					t.Fatalf("received %d pushes from a connection closed with %d queued", len(seqs), accepted)
				}
				assertIncreasing(t, seqs)
				testsvc.Eventually(t, "the connection to be gone", func() bool { return len(s.ActiveClientConn()) == 0 })
			}
		})
	}
}

func assertIncreasing(t *testing.T, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("push %d has seq %d after %d: out of order", i, seqs[i], seqs[i-1])
		}
	}
}

// Publish reaches exactly the connections subscribed to the topic, in order; Broadcast
// reaches all; closing a connection ends its subscriptions.
func TestPublishToSubscribers(t *testing.T) {
	s, _, addr := testsvc.NewArithServer(t)
	const n = 50
	newSub := func(topics ...string) (*client.Client, chan *protocol.Message) {
		ch := make(chan *protocol.Message, 2*n)
		opt := client.DefaultOption
		opt.PushChan = ch
		c := client.NewClient(opt)
		if err := c.Connect("tcp", addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// The server learns a connection speaks frames from its first request.
		var r testsvc.Reply
		if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 1, B: 1}, &r); err != nil {
			t.Fatal(err)
		}
		for _, topic := range topics {
			var ok bool
			if err := c.Call(context.Background(), protocol.PushService+".Subscribe", topic, &ok); err != nil || !ok {
				t.Fatalf("subscribe %s: %v, %v", topic, err, ok)
			}
		}
		return c, ch
	}
	_, ranks := newSub("ranks")
	_, both := newSub("ranks", "chat")
	other, none := newSub()
	if got := s.Subscribers("ranks"); got != 2 {
		t.Fatalf("%d subscribers to ranks, want 2", got)
	}
	for i := range n {
		if got, err := s.Publish("ranks", "Game", "Rank", nil, []byte{byte(i)}); err != nil || got != 2 {
			t.Fatalf("publish %d: %d, %v", i, got, err)
		}
	}
	for _, ch := range []chan *protocol.Message{ranks, both} {
		for i := range n {
			m := testsvc.Recv(t, ch, "a published rank")
			if m.ServiceMethod != "Rank" || m.Payload[0] != byte(i) {
				t.Fatalf("push %d: %s %v", i, m.ServiceMethod, m.Payload)
			}
		}
	}
	if got, err := s.Broadcast("Game", "Hello", nil, []byte("hi")); err != nil || got != 3 {
		t.Fatalf("broadcast: %d, %v", got, err)
	}
	for _, ch := range []chan *protocol.Message{ranks, both, none} {
		if m := testsvc.Recv(t, ch, "the broadcast"); m.ServiceMethod != "Hello" {
			t.Fatalf("broadcast arrived as %s", m.ServiceMethod)
		}
	}
	_ = other.Close()
	var ok bool
	if err := other.Call(context.Background(), protocol.PushService+".Subscribe", "x", &ok); err == nil {
		t.Fatal("subscribed on a closed client")
	}
	if got := s.Subscribers("chat"); got != 1 {
		t.Fatalf("%d subscribers to chat, want 1", got)
	}
}
