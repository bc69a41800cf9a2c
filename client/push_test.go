package client_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// FeedArgs asks Feed.Subscribe for N pushes.
type FeedArgs struct{ N int }

// newFeedServer serves Feed.Subscribe, which pushes N messages to the caller's connection
// (payload and metadata "i" = the index) and then answers.
func newFeedServer(t *testing.T) string {
	s := server.NewServer()
	err := s.RegisterFunctionName("Feed", "Subscribe", func(ctx context.Context, args *FeedArgs, reply *int) error {
		nc := server.RemoteConn(ctx)
		for i := range args.N {
			n := strconv.Itoa(i)
			if err := s.SendMessage(nc, "Feed", "Tick", map[string]string{"i": n}, []byte(n)); err != nil {
				return err
			}
		}
		*reply = args.N
		return nil
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return testsvc.Serve(t, s)
}

func checkPush(t *testing.T, m *protocol.Message, i int) {
	t.Helper()
	n := strconv.Itoa(i)
	if m.ServicePath != "Feed" || m.ServiceMethod != "Tick" || m.Metadata["i"] != n || string(m.Payload) != n {
		t.Fatalf("push %d: %s.%s %v %q", i, m.ServicePath, m.ServiceMethod, m.Metadata, m.Payload)
	}
	if m.MessageType() != protocol.Request || !m.IsOneway() || m.IsHeartbeat() {
		t.Fatalf("push %d has header % x", i, m.Header[:])
	}
}

func TestPushHandler(t *testing.T) {
	addr := newFeedServer(t)
	var mu sync.Mutex
	var got []*protocol.Message
	opt := client.DefaultOption
	opt.PushHandler = func(m *protocol.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}
	c := testsvc.Connect(t, addr, opt)
	const n = 50
	var reply int
	if err := c.Call(context.Background(), "Feed.Subscribe", &FeedArgs{N: n}, &reply); err != nil || reply != n {
		t.Fatalf("Subscribe: %d, %v", reply, err)
	}
	// The pushes were written before the answer, and the client reads in order: by the time
	// the call returns, the handler has had them all.
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("PushHandler got %d pushes, want %d", len(got), n)
	}
	for i, m := range got {
		checkPush(t, m, i)
	}
}

// TestPushChanBackpressure: pushes beyond PushChan's capacity wait; none is dropped.
func TestPushChanBackpressure(t *testing.T) {
	addr := newFeedServer(t)
	const capacity, n = 4, 200
	pushes := make(chan *protocol.Message, capacity)
	opt := client.DefaultOption
	opt.PushChan = pushes
	c := testsvc.Connect(t, addr, opt)
	call := c.Go(context.Background(), "Feed.Subscribe", &FeedArgs{N: n}, new(int), nil)
	for i := range n {
		checkPush(t, testsvc.Recv(t, pushes, fmt.Sprintf("push %d", i)), i)
		if i == 0 {
			// The answer is behind n-1 more pushes than the channel holds: it cannot have
			// been read yet.
			select {
			case <-call.Done:
				t.Fatal("the call ended while its pushes were still queued")
			default:
			}
		}
	}
	if done := testsvc.Recv(t, call.Done, "Subscribe to answer"); done.Error != nil || *done.Reply.(*int) != n {
		t.Fatalf("Subscribe: %v", done.Error)
	}
	select {
	case m := <-pushes:
		t.Fatalf("extra push %v", m)
	default:
	}
}

// TestCloseWhilePushBlocked: a client whose read loop waits for room in PushChan still
// closes promptly.
func TestCloseWhilePushBlocked(t *testing.T) {
	addr := newFeedServer(t)
	pushes := make(chan *protocol.Message, 1)
	opt := client.DefaultOption
	opt.PushChan = pushes
	c := client.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		t.Fatal(err)
	}
	call := c.Go(context.Background(), "Feed.Subscribe", &FeedArgs{N: 10}, new(int), nil)
	checkPush(t, testsvc.Recv(t, pushes, "the first push"), 0)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := testsvc.Recv(t, closed, "Close to return"); err != nil {
		t.Fatal(err)
	}
	if done := testsvc.Recv(t, call.Done, "the pending call"); done.Error != client.ErrShutdown {
		t.Fatalf("pending call: %v, want ErrShutdown", done.Error)
	}
}

func TestSubscribe(t *testing.T) {
	s, _, addr := testsvc.NewArithServer(t)
	ch := make(chan *protocol.Message, 16)
	opt := client.DefaultOption
	opt.PushChan = ch
	c := testsvc.Connect(t, addr, opt)
	ctx := context.Background()
	if err := c.Subscribe(ctx, "ranks"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Publish("ranks", "Game", "Rank", nil, []byte("1")); err != nil || n != 1 {
		t.Fatalf("publish: %d, %v", n, err)
	}
	if m := testsvc.Recv(t, ch, "the push"); string(m.Payload) != "1" {
		t.Fatalf("push %q", m.Payload)
	}
	if err := c.Unsubscribe(ctx, "ranks"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Publish("ranks", "Game", "Rank", nil, []byte("2")); n != 0 {
		t.Fatalf("published to %d connections after Unsubscribe", n)
	}
	if err := c.Subscribe(ctx, ""); err == nil {
		t.Fatal("subscribed to an empty topic")
	}
}
