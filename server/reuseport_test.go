//go:build linux

package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

func reuseOpts(reuse bool) []server.Option {
	if reuse {
		return []server.Option{server.WithReusePort()}
	}
	return nil
}

// TestReusePortBind: two servers bind one port at once only if both ask for
// SO_REUSEPORT; otherwise the second Serve fails with EADDRINUSE.
func TestReusePortBind(t *testing.T) {
	for _, tc := range []struct {
		name          string
		network       string
		first, second bool
		wantErr       error
	}{
		{"both reuse", "tcp", true, true, nil},
		{"both reuse ws", "ws", true, true, nil},
		{"both reuse tcp4", "tcp4", true, true, nil},
		{"only first reuses", "tcp", true, false, syscall.EADDRINUSE},
		{"only second reuses", "tcp", false, true, syscall.EADDRINUSE},
		{"neither reuses", "tcp", false, false, syscall.EADDRINUSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s1, _, _ := newWhoServer(t, 1, reuseOpts(tc.first)...)
			addr := conformance.Serve(t, s1, tc.network, "127.0.0.1:0")
			s2, _, _ := newWhoServer(t, 2, reuseOpts(tc.second)...)
			if tc.wantErr != nil {
				err := s2.Serve(tc.network, addr)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("second Serve on %s: %v, want %v", addr, err, tc.wantErr)
				}
				_ = s2.Close()
				return
			}
			if got := conformance.Serve(t, s2, tc.network, addr); got != addr {
				t.Fatalf("second server listens on %s, want %s", got, addr)
			}
			// Both answer on the port: fresh connections reach each of them.
			seen := map[int]bool{}
			testsvc.Eventually(t, "fresh connections to reach both servers", func() bool {
				id, err := callFresh(addr)
				if err != nil {
					t.Fatalf("call on a fresh connection: %v", err)
				}
				seen[id] = true
				return seen[1] && seen[2]
			})
		})
	}
}

// newWhoServer returns a server whose Who.Am answers id, and a counter of its answers.
func newWhoServer(t *testing.T, id int, opts ...server.Option) (*server.Server, *sync.Mutex, *int) {
	t.Helper()
	s := server.NewServer(opts...)
	var mu sync.Mutex
	var count int
	err := s.RegisterFunctionName("Who", "Am", func(ctx context.Context, args *int, reply *int) error {
		mu.Lock()
		count++
		mu.Unlock()
		*reply = id
		return nil
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, &mu, &count
}

// callOnce calls Who.Am on a new connection to addr; dialed reports whether Connect
// succeeded.
func callOnce(addr string) (id int, dialed bool, err error) {
	c := client.NewClient(client.DefaultOption)
	defer c.Close()
	if err := c.Connect("tcp", addr); err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	err = c.Call(ctx, "Who.Am", 0, &id)
	return id, true, err
}

// retriable reports whether a call that failed with err certainly did not run, or ran
// and can run again (Who.Am is idempotent), because the server it reached was going away:
//   - a dial reset: the handshake was pending on a listener that closed (Linux drops a
//     closing SO_REUSEPORT listener's pending connections unless
//     net.ipv4.tcp_migrate_req is 1);
//   - a transport error: the connection was in the closing listener's accept queue
//     (reset), or accepted but not yet read from when Shutdown closed it;
//   - the "shutting down" service error: the request reached a draining connection.
func retriable(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || client.IsTransportError(err) ||
		(client.IsServiceError(err) && strings.Contains(err.Error(), "shutting down"))
}

// callFresh calls Who.Am on a new connection to addr and returns which server answered.
func callFresh(addr string) (int, error) {
	id, _, err := callOnce(addr)
	return id, err
}

// TestReusePortRestart is a zero-downtime restart: the new server listens on the old one's
// port (SO_REUSEPORT) while callers keep opening connections; the old one shuts down. No
// dial is ever refused, every call succeeds (calls caught on the old server as it goes are
// retried on a new connection, as a client of a restarting service does: see retriable),
// and once Shutdown has returned every new connection reaches the new server.
func TestReusePortRestart(t *testing.T) {
	old, oldMu, oldCount := newWhoServer(t, 1, server.WithReusePort())
	addr := conformance.Serve(t, old, "tcp", "127.0.0.1:0")
	next, nextMu, nextCount := newWhoServer(t, 2, server.WithReusePort())
	conformance.Serve(t, next, "tcp", addr)
	counts := func() (int, int) {
		oldMu.Lock()
		o := *oldCount
		oldMu.Unlock()
		nextMu.Lock()
		defer nextMu.Unlock()
		return o, *nextCount
	}

	var (
		mu                        sync.Mutex
		answers                   = map[int]int{} // by server id
		afterShutdown             = map[int]int{}
		shutDown                  bool
		dialErrs, failed, retries int
		lastErr                   error
		retryErrs                 []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const callers, attempts = 4, 5
	for range callers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var id int
				var err error
				mu.Lock()
				late := shutDown // every connection of this call opens after Shutdown returned
				mu.Unlock()
				for try := range attempts {
					var dialed bool
					id, dialed, err = callOnce(addr)
					if err != nil && !dialed && !errors.Is(err, syscall.ECONNRESET) {
						// Refused (or any dial failure but a reset handshake): downtime.
						mu.Lock()
						dialErrs++
						mu.Unlock()
						break
					}
					if err == nil || !retriable(err) || try == attempts-1 {
						break
					}
					mu.Lock()
					retries++
					retryErrs = append(retryErrs, err.Error())
					mu.Unlock()
				}
				mu.Lock()
				if err != nil {
					failed++
					lastErr = err
				} else {
					answers[id]++
					if late {
						afterShutdown[id]++
					}
				}
				mu.Unlock()
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	snapshot := func() (map[int]int, map[int]int, int, int, int, error) {
		mu.Lock()
		defer mu.Unlock()
		a, b := map[int]int{}, map[int]int{}
		for k, v := range answers {
			a[k] = v
		}
		for k, v := range afterShutdown {
			b[k] = v
		}
		return a, b, dialErrs, failed, retries, lastErr
	}

	testsvc.Eventually(t, "both servers to answer callers", func() bool {
		a, _, _, _, _, _ := snapshot()
		return a[1] >= 10 && a[2] >= 10
	})
	if err := old.Shutdown(context.Background()); err != nil {
		t.Fatalf("old server Shutdown: %v", err)
	}
	oldAtShutdown, _ := counts()
	mu.Lock()
	shutDown = true
	mu.Unlock()
	testsvc.Eventually(t, "new connections to reach the new server", func() bool {
		_, b, _, _, _, _ := snapshot()
		return b[2] >= 50
	})
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	a, b, dials, fails, retried, last := snapshot()
	oldN, nextN := counts()
	t.Logf("answers: old %d, new %d (after shutdown: %v); retried calls %d: %q", a[1], a[2], b, retried, retryErrs)
	if dials != 0 || fails != 0 {
		t.Fatalf("%d refused dials and %d failed calls (last: %v); want none", dials, fails, last)
	}
	if b[1] != 0 || oldN != oldAtShutdown {
		t.Fatalf("the old server answered after its Shutdown returned: %d calls seen by callers, handler count %d -> %d", b[1], oldAtShutdown, oldN)
	}
	if oldN < a[1] || nextN < a[2] {
		t.Fatalf("handlers ran old %d, new %d times; callers got %d, %d answers", oldN, nextN, a[1], a[2])
	}
}
