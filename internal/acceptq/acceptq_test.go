package acceptq_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/brisk-rpc/brisk/internal/acceptq"
	"github.com/brisk-rpc/brisk/internal/testsvc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeConn is a connection whose Close calls release once.
type fakeConn struct {
	net.Conn // nil: only Close is used
	id       int
	once     sync.Once
	release  func()
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return nil
}

// counter counts the calls of a release function.
type counter struct {
	n    atomic.Int32
	done chan struct{} // closed at the first call
}

func newCounter() *counter { return &counter{done: make(chan struct{})} }

func (c *counter) release() {
	if c.n.Add(1) == 1 {
		close(c.done)
	}
}

func (c *counter) calls() int { return int(c.n.Load()) }

func TestDeliverAccept(t *testing.T) {
	rel := newCounter()
	q := acceptq.New(rel.release)
	for i := range 3 {
		if !q.Admit() {
			t.Fatal("Admit refused on an open queue")
		}
		c := &fakeConn{id: i, release: q.Release}
		delivered := make(chan bool, 1)
		go func() { delivered <- q.Deliver(c) }()
		got, err := q.Accept()
		if err != nil || got != c {
			t.Fatalf("Accept = %v, %v; want conn %d", got, err, i)
		}
		if !testsvc.Recv(t, delivered, "Deliver to return") {
			t.Fatal("Deliver reported a refusal for an accepted conn")
		}
		_ = got.Close()
	}
	if rel.calls() != 0 {
		t.Fatal("the socket was released before Close")
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rel.calls() != 1 {
		t.Fatalf("release called %d times after Close with nothing live, want 1", rel.calls())
	}
}

func TestClose(t *testing.T) {
	rel := newCounter()
	q := acceptq.New(rel.release)
	accepted := make(chan error, 1)
	go func() {
		_, err := q.Accept()
		accepted <- err
	}()
	delivered := make(chan bool, 1)
	go func() { delivered <- q.Deliver(&fakeConn{}) }()
	// Whether they are already waiting or not, Close ends both.
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := testsvc.Recv(t, accepted, "Accept to return"); err != nil {
		// The Deliver may have reached the waiting Accept first; then Accept succeeded.
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept across Close: %v, want net.ErrClosed", err)
		}
		if testsvc.Recv(t, delivered, "Deliver to return") {
			t.Fatal("Deliver succeeded although Accept returned net.ErrClosed")
		}
	}
	if _, err := q.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if q.Deliver(&fakeConn{}) {
		t.Fatal("Deliver after Close succeeded")
	}
	if q.Admit() {
		t.Fatal("Admit after Close succeeded")
	}
	if q.Go(func(context.Context) { t.Error("Go ran a function after Close") }) {
		t.Fatal("Go after Close returned true")
	}
	if err := q.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	if rel.calls() != 1 {
		t.Fatalf("release called %d times, want 1", rel.calls())
	}
}

// TestReleaseWithLastConn: the socket outlives Close while admitted connections are live,
// and is released once, by the last of them.
func TestReleaseWithLastConn(t *testing.T) {
	rel := newCounter()
	q := acceptq.New(rel.release)
	if !q.Admit() || !q.Admit() {
		t.Fatal("Admit refused on an open queue")
	}
	q.Release() // one finishes before Close
	if !q.Admit() {
		t.Fatal("Admit refused on an open queue")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if rel.calls() != 0 {
		t.Fatal("Close released the socket while two connections were live")
	}
	q.Release()
	if rel.calls() != 0 {
		t.Fatal("released with a connection still live")
	}
	q.Release()
	if rel.calls() != 1 {
		t.Fatalf("release called %d times after the last Release, want 1", rel.calls())
	}
}

// TestGo: Go's functions see their context end at Close, and Close waits for them; a
// connection refused by Deliver is closed by its goroutine and releases the socket.
func TestGo(t *testing.T) {
	rel := newCounter()
	q := acceptq.New(rel.release)
	var returned atomic.Int32
	const n = 4
	started := make(chan struct{}, n)
	for range n {
		ok := q.Go(func(ctx context.Context) {
			defer returned.Add(1)
			if !q.Admit() {
				t.Error("Admit refused before Close")
				return
			}
			c := &fakeConn{release: q.Release}
			started <- struct{}{}
			<-ctx.Done() // a handshake that never ends but for the listener's Close
			if q.Deliver(c) {
				t.Error("Deliver succeeded after Close")
			}
			_ = c.Close()
		})
		if !ok {
			t.Fatal("Go refused on an open queue")
		}
	}
	for range n {
		testsvc.Recv(t, started, "the goroutines to admit their connections")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if got := returned.Load(); got != n {
		t.Fatalf("Close returned with %d of %d goroutines still running", n-int(got), n)
	}
	if rel.calls() != 1 {
		t.Fatalf("release called %d times, want 1", rel.calls())
	}
}

func TestFail(t *testing.T) {
	rel := newCounter()
	q := acceptq.New(rel.release)
	ctxDone := make(chan struct{})
	q.Go(func(ctx context.Context) {
		<-ctx.Done()
		close(ctxDone)
	})
	accepted := make(chan error, 1)
	go func() {
		_, err := q.Accept()
		accepted <- err
	}()
	boom := errors.New("socket failed")
	q.Fail(boom)
	q.Fail(errors.New("second")) // ignored
	if err := testsvc.Recv(t, accepted, "Accept to return"); !errors.Is(err, boom) {
		t.Fatalf("Accept after Fail: %v, want %v", err, boom)
	}
	if _, err := q.Accept(); !errors.Is(err, boom) {
		t.Fatalf("second Accept after Fail: %v, want %v", err, boom)
	}
	testsvc.Recv(t, ctxDone, "Go's context to end at Fail")
	if q.Admit() {
		t.Fatal("Admit after Fail succeeded")
	}
	if q.Deliver(&fakeConn{}) {
		t.Fatal("Deliver after Fail succeeded")
	}
	if rel.calls() != 0 {
		t.Fatal("Fail released the socket; Close does")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if rel.calls() != 1 {
		t.Fatalf("release called %d times, want 1", rel.calls())
	}
	if _, err := q.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Fail and Close: %v, want net.ErrClosed", err)
	}
	q.Fail(boom) // after Close: ignored
}

// TestConcurrent: connections arrive, are accepted, closed and refused while Close runs;
// every admitted connection is either accepted or refused and closed, and the socket is
// released exactly once, after the last of them.
func TestConcurrent(t *testing.T) {
	for round := range 20 {
		rel := newCounter()
		q := acceptq.New(rel.release)
		const n = 50
		var admitted, refused atomic.Int32
		accepted := make(chan net.Conn, n)
		acceptDone := make(chan struct{})
		go func() {
			defer close(acceptDone)
			for {
				c, err := q.Accept()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("Accept: %v", err)
					}
					return
				}
				accepted <- c
			}
		}()
		var producers sync.WaitGroup
		for i := range n {
			producers.Add(1)
			go func() {
				defer producers.Done()
				q.Go(func(context.Context) {
					if !q.Admit() {
						return
					}
					admitted.Add(1)
					c := &fakeConn{id: i, release: q.Release}
					if !q.Deliver(c) {
						refused.Add(1)
						_ = c.Close()
					}
				})
			}()
			if i == n/2+round {
				if err := q.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
		producers.Wait()
		testsvc.Recv(t, acceptDone, "the accept loop to end")
		close(accepted)
		got := 0
		for c := range accepted {
			got++
			if rel.calls() != 0 {
				t.Fatal("released while an accepted connection was open")
			}
			_ = c.Close()
		}
		if int32(got)+refused.Load() != admitted.Load() {
			t.Fatalf("round %d: %d accepted + %d refused != %d admitted", round, got, refused.Load(), admitted.Load())
		}
		testsvc.Recv(t, rel.done, "the socket to be released")
		if rel.calls() != 1 {
			t.Fatalf("round %d: release called %d times, want 1", round, rel.calls())
		}
	}
}
