package flow_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/internal/flow"
	"github.com/brisk-rpc/brisk/protocol"
)

// blocked is how long a call must stay blocked to count as waiting.
const blocked = 30 * time.Millisecond

// bound is how long a woken call may take to return.
const bound = 5 * time.Second

func msg(n int, tag byte) *protocol.Message {
	m := protocol.NewMessage()
	m.ServicePath, m.ServiceMethod = protocol.StreamService, flow.KindMsg
	m.Payload = bytes.Repeat([]byte{tag}, n)
	return m
}

// freed reports whether FreeMsg reset m (it is then in the pool: only look at it).
func freed(m *protocol.Message) bool { return m.Payload == nil && m.ServiceMethod == "" }

// start runs fn on a goroutine and returns the channel its error arrives on.
func start(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func mustBlock(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned %v, want it to wait", what, err)
	case <-time.After(blocked):
	}
}

func mustReturn(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(bound):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// acquireNow acquires with a context that ends soon: nil if credit was there.
func acquireNow(f *flow.Flow, cost int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), blocked)
	defer cancel()
	return f.Acquire(ctx, cost)
}

func TestCost(t *testing.T) {
	if flow.Cost(0) <= 0 {
		t.Fatalf("Cost(0) = %d: empty messages must not be free", flow.Cost(0))
	}
	if flow.Cost(100)-flow.Cost(0) != 100 {
		t.Fatalf("Cost(100) = %d, Cost(0) = %d", flow.Cost(100), flow.Cost(0))
	}
}

func TestAcquireCredit(t *testing.T) {
	tests := []struct {
		name  string
		costs []int64 // acquired in order; all succeed
		// then Acquire(1) must wait until grants (in order) are made; it proceeds after the last
		grants []int64
	}{
		{"exact window", []int64{flow.InitialWindow}, []int64{1}},
		{"one byte left then a huge message", []int64{flow.InitialWindow - 1, 10 << 20}, []int64{10<<20 - 1, 1}},
		{"many small", []int64{64 << 10, 64 << 10, 64 << 10, 64 << 10}, []int64{100}},
		{"overdraft by one message only", []int64{flow.InitialWindow - 10, 1000}, []int64{500, 489, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flow.New(flow.DefaultWindow, 1<<20)
			for i, c := range tt.costs {
				if err := acquireNow(f, c); err != nil {
					t.Fatalf("Acquire #%d (%d) with credit left: %v", i, c, err)
				}
			}
			// The credit is now zero or below: the next message waits.
			if err := acquireNow(f, 1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Acquire without credit = %v, want it to wait", err)
			}
			ch := start(func() error { return f.Acquire(context.Background(), 1) })
			for i, g := range tt.grants {
				if i > 0 {
					mustBlock(t, ch, "Acquire before enough grants")
				}
				f.Grant(g)
			}
			if err := mustReturn(t, ch, "Acquire after the grant"); err != nil {
				t.Fatalf("Acquire after the grant = %v", err)
			}
		})
	}
}

func TestAcquireStopSending(t *testing.T) {
	stop := errors.New("stop")
	f := flow.New(0, 1000)
	if err := acquireNow(f, flow.InitialWindow); err != nil {
		t.Fatal(err)
	}
	ch := start(func() error { return f.Acquire(context.Background(), 1) })
	mustBlock(t, ch, "Acquire without credit")
	f.StopSending(stop)
	if err := mustReturn(t, ch, "Acquire after StopSending"); err != stop {
		t.Fatalf("Acquire after StopSending = %v", err)
	}
	f.StopSending(errors.New("second"))
	f.Grant(1 << 30)
	if err := acquireNow(f, 1); err != stop {
		t.Fatalf("Acquire with credit after StopSending = %v, want the first error", err)
	}
	// Receiving is not affected.
	if !f.Deliver(msg(1, 'a')) {
		t.Fatal("Deliver refused after StopSending")
	}
	if m, _, err := f.Next(context.Background()); err != nil || len(m.Payload) != 1 {
		t.Fatalf("Next after StopSending = %v, %v", m, err)
	}
}

func TestWindowMinimumAndInitialGrant(t *testing.T) {
	tests := []struct {
		window int64
		grant  int64
	}{
		{0, 0},
		{-5, 0},
		{1000, 0},
		{flow.InitialWindow, 0},
		{flow.InitialWindow + 1, 1},
		{flow.DefaultWindow, flow.DefaultWindow - flow.InitialWindow},
	}
	for _, tt := range tests {
		if g := flow.New(tt.window, 1000).InitialGrant(); g != tt.grant {
			t.Errorf("New(%d).InitialGrant() = %d, want %d", tt.window, g, tt.grant)
		}
	}
}

func TestDeliverLimit(t *testing.T) {
	tests := []struct {
		name       string
		window     int64
		maxMessage int
		sizes      []int // delivered in order
		refused    int   // index of the first refused message; -1 none
	}{
		{"below window", flow.InitialWindow, 1000, []int{1000, 1000, 1000}, -1},
		{"window plus max message exactly", flow.InitialWindow, 1000,
			[]int{flow.InitialWindow - 64, 1000}, -1},
		{"one byte past window plus max message", flow.InitialWindow, 1000,
			[]int{flow.InitialWindow - 64, 1001}, 1},
		{"empty messages are not free", flow.InitialWindow, 0,
			make([]int, flow.InitialWindow/64+2), flow.InitialWindow/64 + 1},
		{"small window raised to the minimum", 1, 0, []int{flow.InitialWindow - 64}, -1},
		{"huge single message", flow.DefaultWindow, 1 << 20, []int{2<<20 + 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flow.New(tt.window, tt.maxMessage)
			var kept int
			var cost int64
			for i, n := range tt.sizes {
				m := msg(n, byte(i))
				ok := f.Deliver(m)
				want := tt.refused < 0 || i < tt.refused
				if ok != want {
					t.Fatalf("Deliver #%d (%d bytes) = %v, want %v", i, n, ok, want)
				}
				if !ok {
					if !freed(m) {
						t.Fatalf("refused message #%d was not freed", i)
					}
					break
				}
				kept++
				cost += flow.Cost(n)
			}
			if n, c := f.Queued(); n != kept || c != cost {
				t.Fatalf("Queued() = %d, %d; want %d, %d", n, c, kept, cost)
			}
			// Consuming makes room again.
			if kept > 0 && tt.refused >= 0 {
				m, _, err := f.Next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				first := len(m.Payload)
				protocol.FreeMsg(m)
				if first >= 64 && !f.Deliver(msg(0, 'z')) {
					t.Fatal("Deliver refused after a message was consumed")
				}
			}
			f.Abort(io.ErrClosedPipe)
		})
	}
}

func TestNextOrderAndGrants(t *testing.T) {
	const window = flow.DefaultWindow
	const size = 10000 // Cost 10064: a quarter window is 26.05 messages
	f := flow.New(window, 1<<20)
	const n = 100
	for i := range n {
		if !f.Deliver(msg(size, byte(i))) {
			t.Fatalf("Deliver #%d refused", i)
		}
	}
	var unacked, granted int64
	for i := range n {
		m, grant, err := f.Next(context.Background())
		if err != nil {
			t.Fatalf("Next #%d: %v", i, err)
		}
		if m.Payload[0] != byte(i) || len(m.Payload) != size {
			t.Fatalf("Next #%d returned message %d of %d bytes", i, m.Payload[0], len(m.Payload))
		}
		protocol.FreeMsg(m)
		unacked += flow.Cost(size)
		switch {
		case unacked >= window/4:
			if grant != unacked {
				t.Fatalf("Next #%d grant = %d, want %d (a quarter window consumed)", i, grant, unacked)
			}
			granted += grant
			unacked = 0
		case grant != 0:
			t.Fatalf("Next #%d grant = %d before a quarter window was consumed", i, grant)
		}
	}
	if granted == 0 || granted+unacked != n*flow.Cost(size) {
		t.Fatalf("granted %d + unacked %d, consumed %d", granted, unacked, n*flow.Cost(size))
	}
	if q, c := f.Queued(); q != 0 || c != 0 {
		t.Fatalf("Queued() = %d, %d after consuming all", q, c)
	}
}

func TestNextWaitsForDeliver(t *testing.T) {
	f := flow.New(0, 1000)
	got := make(chan *protocol.Message, 1)
	ch := start(func() error {
		m, _, err := f.Next(context.Background())
		got <- m
		return err
	})
	mustBlock(t, ch, "Next on an empty queue")
	f.Deliver(msg(3, 'x'))
	if err := mustReturn(t, ch, "Next after Deliver"); err != nil {
		t.Fatal(err)
	}
	if m := <-got; string(m.Payload) != "xxx" {
		t.Fatalf("Next = %q", m.Payload)
	}
}

func TestFinish(t *testing.T) {
	peerErr := errors.New("peer failed")
	tests := []struct {
		name   string
		queued int
		first  error
		second error
	}{
		{"eof after messages", 3, io.EOF, nil},
		{"eof on empty queue", 0, io.EOF, nil},
		{"error after messages", 2, peerErr, nil},
		{"first finish wins", 1, peerErr, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flow.New(0, 1000)
			for i := range tt.queued {
				f.Deliver(msg(flow.InitialWindow/8, byte(i))) // enough for a grant
			}
			f.Finish(tt.first)
			if tt.second != nil {
				f.Finish(tt.second)
			}
			// Late messages are dropped, not refused.
			late := msg(5, 'L')
			if !f.Deliver(late) || !freed(late) {
				t.Fatal("a message after Finish was not dropped and freed")
			}
			for i := range tt.queued {
				m, grant, err := f.Next(context.Background())
				if err != nil || m.Payload[0] != byte(i) {
					t.Fatalf("Next #%d = %v, %v", i, m, err)
				}
				if grant != 0 {
					t.Fatalf("Next #%d grants %d after the peer finished", i, grant)
				}
				protocol.FreeMsg(m)
			}
			for range 2 {
				if m, _, err := f.Next(context.Background()); m != nil || err != tt.first {
					t.Fatalf("Next after the queue = %v, %v; want %v", m, err, tt.first)
				}
			}
		})
	}
}

func TestFinishWakesNext(t *testing.T) {
	f := flow.New(0, 1000)
	ch := start(func() error { _, _, err := f.Next(context.Background()); return err })
	mustBlock(t, ch, "Next")
	f.Finish(io.EOF)
	if err := mustReturn(t, ch, "Next after Finish"); err != io.EOF {
		t.Fatalf("Next after Finish = %v", err)
	}
}

func TestAbort(t *testing.T) {
	reason := errors.New("aborted")
	f := flow.New(0, 1000)
	if err := acquireNow(f, flow.InitialWindow); err != nil {
		t.Fatal(err)
	}
	acq := start(func() error { return f.Acquire(context.Background(), 1) })
	mustBlock(t, acq, "Acquire without credit")

	g := flow.New(0, 1000)
	next := start(func() error { _, _, err := g.Next(context.Background()); return err })
	mustBlock(t, next, "Next on an empty queue")

	var queued []*protocol.Message
	for i := range 5 {
		m := msg(10, byte(i))
		queued = append(queued, m)
		f.Deliver(m)
	}
	select {
	case <-f.Done():
		t.Fatal("Done closed before Abort")
	default:
	}
	if !f.Abort(reason) {
		t.Fatal("first Abort reported false")
	}
	if f.Abort(errors.New("again")) {
		t.Fatal("second Abort reported true")
	}
	g.Abort(reason)
	if err := mustReturn(t, acq, "Acquire after Abort"); err != reason {
		t.Fatalf("Acquire after Abort = %v", err)
	}
	if err := mustReturn(t, next, "Next after Abort"); err != reason {
		t.Fatalf("Next after Abort = %v", err)
	}
	for i, m := range queued {
		if !freed(m) {
			t.Fatalf("queued message #%d not freed by Abort", i)
		}
	}
	if n, c := f.Queued(); n != 0 || c != 0 {
		t.Fatalf("Queued() = %d, %d after Abort", n, c)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after Abort")
	}
	if f.Err() != reason {
		t.Fatalf("Err() = %v", f.Err())
	}
	// After Abort everything fails with the abort error, even with credit or messages.
	f.Grant(1 << 30)
	if err := acquireNow(f, 1); err != reason {
		t.Fatalf("Acquire after Abort with credit = %v", err)
	}
	late := msg(1, 'l')
	if !f.Deliver(late) || !freed(late) {
		t.Fatal("Deliver after Abort did not drop and free")
	}
	f.Finish(io.EOF)
	if _, _, err := f.Next(context.Background()); err != reason {
		t.Fatalf("Next after Abort and Finish = %v", err)
	}
	// Abort beats a finished queue with messages, too.
	h := flow.New(0, 1000)
	h.Deliver(msg(1, 'q'))
	h.Finish(io.EOF)
	h.Abort(reason)
	if _, _, err := h.Next(context.Background()); err != reason {
		t.Fatalf("Next after Finish and Abort = %v", err)
	}
}

func TestContextCancel(t *testing.T) {
	for _, aborted := range []bool{false, true} {
		f := flow.New(0, 1000)
		if err := acquireNow(f, flow.InitialWindow); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		acq := start(func() error { return f.Acquire(ctx, 1) })
		next := start(func() error { _, _, err := f.Next(ctx); return err })
		mustBlock(t, acq, "Acquire")
		mustBlock(t, next, "Next")
		want := context.Canceled
		if aborted {
			// An abort seen at the same time as the context wins: it says more.
			want = io.ErrClosedPipe
			f.Abort(want)
		}
		cancel()
		if err := mustReturn(t, acq, "Acquire after cancel"); err != want {
			t.Fatalf("aborted=%v: Acquire = %v, want %v", aborted, err, want)
		}
		if err := mustReturn(t, next, "Next after cancel"); err != want {
			t.Fatalf("aborted=%v: Next = %v, want %v", aborted, err, want)
		}
	}
	// A context already ended does not block.
	f := flow.New(0, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := f.Next(ctx); err != context.Canceled {
		t.Fatalf("Next with a cancelled context = %v", err)
	}
}

func TestConcurrentSendRecv(t *testing.T) {
	// A sender and a receiver on two Flows joined back to back, like two peers.
	const n = 2000
	sender, receiver := flow.New(0, 1000), flow.New(0, 1000)
	ctx := context.Background()
	done := start(func() error {
		for i := range n {
			p := 1000 - i%1000
			if err := sender.Acquire(ctx, flow.Cost(p)); err != nil {
				return err
			}
			if !receiver.Deliver(msg(p, byte(i))) {
				return errors.New("receiver refused a message within credit")
			}
		}
		receiver.Finish(io.EOF)
		return nil
	})
	for i := 0; ; i++ {
		m, grant, err := receiver.Next(ctx)
		if err == io.EOF {
			if i != n {
				t.Fatalf("EOF after %d messages", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Payload[0] != byte(i) {
			t.Fatalf("message %d out of order", i)
		}
		protocol.FreeMsg(m)
		if grant > 0 {
			sender.Grant(grant)
		}
	}
	if err := mustReturn(t, done, "sender"); err != nil {
		t.Fatal(err)
	}
}

func TestWindowPayload(t *testing.T) {
	tests := []struct {
		n    int64
		want int64
	}{
		{0, 0},
		{1, 1},
		{flow.DefaultWindow, flow.DefaultWindow},
		{1<<31 - 1, 1<<31 - 1},
		{1 << 31, 1<<31 - 1},
		{1 << 40, 1<<31 - 1},
	}
	for _, tt := range tests {
		p := flow.WindowPayload([]byte("x"), tt.n)
		if len(p) != 5 || p[0] != 'x' {
			t.Fatalf("WindowPayload(%d) = % x: must append 4 bytes", tt.n, p)
		}
		got, ok := flow.ParseWindow(p[1:])
		if !ok || got != tt.want {
			t.Errorf("ParseWindow(WindowPayload(%d)) = %d, %v; want %d", tt.n, got, ok, tt.want)
		}
	}
	for _, p := range [][]byte{nil, {}, {1}, {1, 2, 3}, {1, 2, 3, 4, 5}, make([]byte, 8)} {
		if n, ok := flow.ParseWindow(p); ok || n != 0 {
			t.Errorf("ParseWindow(% x) = %d, %v; want malformed", p, n, ok)
		}
	}
	if n, ok := flow.ParseWindow([]byte{0xFF, 0xFF, 0xFF, 0xFF}); !ok || n != 1<<32-1 {
		t.Errorf("ParseWindow(ff ff ff ff) = %d, %v", n, ok)
	}
}

func TestFrame(t *testing.T) {
	tests := []struct {
		typ    protocol.MessageType
		kind   string
		oneway bool
	}{
		{protocol.Request, flow.KindOpen, false},
		{protocol.Request, flow.KindMsg, true},
		{protocol.Request, flow.KindWindow, true},
		{protocol.Request, flow.KindEOF, true},
		{protocol.Request, flow.KindCancel, true},
		{protocol.Response, flow.KindMsg, false},
		{protocol.Response, flow.KindEnd, false},
	}
	for _, tt := range tests {
		m := protocol.NewMessage()
		flow.Frame(m, tt.typ, 42, tt.kind)
		if m.MessageType() != tt.typ || m.IsOneway() != tt.oneway || m.Seq() != 42 ||
			m.ServicePath != protocol.StreamService || m.ServiceMethod != tt.kind {
			t.Errorf("Frame(%v, %q) = type %v oneway %v seq %d %s.%s", tt.typ, tt.kind,
				m.MessageType(), m.IsOneway(), m.Seq(), m.ServicePath, m.ServiceMethod)
		}
	}
}

// FuzzParseWindow: any payload parses or is malformed (exactly 4 bytes parse), never
// panics, and a parsed grant re-encodes to the same bytes when it is within the range
// WindowPayload writes.
func FuzzParseWindow(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, int64(0))
	f.Add([]byte{0, 0x10, 0, 0}, int64(flow.DefaultWindow))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF}, int64(1<<31))
	f.Add([]byte{0x7F, 0xFF, 0xFF, 0xFF}, int64(-1))
	f.Add([]byte{1, 2, 3}, int64(1<<62))
	f.Add([]byte{1, 2, 3, 4, 5}, int64(7))
	f.Add([]byte{}, int64(-1<<63))
	f.Fuzz(func(t *testing.T, p []byte, n int64) {
		got, ok := flow.ParseWindow(p)
		if ok != (len(p) == 4) {
			t.Fatalf("ParseWindow(% x) ok = %v", p, ok)
		}
		if !ok && got != 0 {
			t.Fatalf("ParseWindow(% x) = %d on a malformed payload", p, got)
		}
		if ok {
			if got < 0 || got > 1<<32-1 {
				t.Fatalf("ParseWindow(% x) = %d out of range", p, got)
			}
			if got <= 1<<31-1 && !bytes.Equal(flow.WindowPayload(nil, got), p) {
				t.Fatalf("WindowPayload(ParseWindow(% x)) = % x", p, flow.WindowPayload(nil, got))
			}
		}
		if n < 0 {
			return // grants are never negative
		}
		back, ok := flow.ParseWindow(flow.WindowPayload(nil, n))
		if !ok || back != min(n, 1<<31-1) {
			t.Fatalf("ParseWindow(WindowPayload(%d)) = %d, %v", n, back, ok)
		}
	})
}
