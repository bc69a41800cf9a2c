package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// bound is how long a test waits for what should happen promptly before calling it a hang.
const bound = 10 * time.Second

// WhoArgs and WhoReply are the Node service's messages.
type WhoArgs struct{ Key string }
type WhoReply struct{ ID int }

// Node is a service that says which server answered and can be made slow or crashing.
type Node struct {
	id      int
	calls   atomic.Int64
	crashes atomic.Int64
	delay   atomic.Int64 // nanoseconds each Who call takes
	crash   atomic.Bool  // Flaky closes the caller's connection instead of answering
}

func (n *Node) Who(ctx context.Context, args *WhoArgs, reply *WhoReply) error {
	n.calls.Add(1)
	if d := time.Duration(n.delay.Load()); d > 0 {
		t := time.NewTimer(d) // simulated work, not synchronisation
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	reply.ID = n.id
	return nil
}

// Flaky answers, or, while crash is set, closes the connection the call came on: the
// caller sees a transport error after its request reached the handler.
func (n *Node) Flaky(ctx context.Context, args *WhoArgs, reply *WhoReply) error {
	n.calls.Add(1)
	if n.crash.Load() {
		n.crashes.Add(1)
		_ = server.RemoteConn(ctx).Close()
		return errors.New("crashed")
	}
	reply.ID = n.id
	return nil
}

// Fail always returns a service error.
func (n *Node) Fail(ctx context.Context, args *WhoArgs, reply *WhoReply) error {
	n.calls.Add(1)
	return errors.New("node says no")
}

type testNode struct {
	*Node
	srv  *server.Server
	addr string
	done chan error
	once sync.Once
}

func startNode(t *testing.T, id int, addr string) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{Node: &Node{id: id}, srv: server.NewServer(), addr: ln.Addr().String(), done: make(chan error, 1)}
	if err := n.srv.RegisterName("Node", n.Node, ""); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.srv.ServeListener(ln) }()
	return n
}

func (n *testNode) stop() {
	n.once.Do(func() {
		_ = n.srv.Close()
		<-n.done
	})
}

type cluster struct {
	nodes []*testNode
	disc  *discovery.MultipleServers
}

// startCluster starts n servers on loopback; metadata[i], if given, is server i's.
func startCluster(t *testing.T, n int, metadata ...string) *cluster {
	t.Helper()
	c := &cluster{}
	var pairs []discovery.KVPair
	for i := range n {
		node := startNode(t, i, "127.0.0.1:0")
		c.nodes = append(c.nodes, node)
		md := ""
		if i < len(metadata) {
			md = metadata[i]
		}
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + node.addr, Value: md})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		t.Fatal(err)
	}
	c.disc = d
	t.Cleanup(func() {
		_ = d.Close()
		for _, node := range c.nodes {
			node.stop()
		}
	})
	return c
}

func (c *cluster) counts() []int64 {
	out := make([]int64, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.calls.Load()
	}
	return out
}

func newX(t *testing.T, c *cluster, fail client.FailMode, sel client.SelectMode, opt client.Option) *client.XClient {
	t.Helper()
	x := client.NewXClient("Node", fail, sel, c.disc, opt)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func callN(t *testing.T, x *client.XClient, n int, method string) {
	t.Helper()
	for i := range n {
		var r WhoReply
		if err := x.Call(context.Background(), method, &WhoArgs{Key: strconv.Itoa(i)}, &r); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func within(got, want, tolerance float64) bool { return got >= want-tolerance && got <= want+tolerance }

func TestSelectorDistribution(t *testing.T) {
	const calls = 1200
	tests := []struct {
		name     string
		mode     client.SelectMode
		metadata []string
		want     []float64 // expected share per server
		tol      float64
	}{
		{"random", client.RandomSelect, nil, []float64{1. / 3, 1. / 3, 1. / 3}, 0.07},
		{"round robin", client.RoundRobin, nil, []float64{1. / 3, 1. / 3, 1. / 3}, 0.001},
		{"weighted", client.WeightedRoundRobin, []string{"weight=1", "weight=2", "weight=3"}, []float64{1. / 6, 2. / 6, 3. / 6}, 0.001},
		{"least loaded, equal servers", client.LeastLoaded, nil, []float64{1. / 3, 1. / 3, 1. / 3}, 0.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, 3, tt.metadata...)
			x := newX(t, c, client.Failfast, tt.mode, client.DefaultOption)
			callN(t, x, calls, "Who")
			for i, n := range c.counts() {
				if share := float64(n) / calls; !within(share, tt.want[i], tt.tol) {
					t.Errorf("server %d got %d of %d calls (%.3f), want %.3f±%.3f", i, n, calls, share, tt.want[i], tt.tol)
				}
			}
		})
	}
}

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	c := startCluster(t, 3, "weight=5", "weight=1", "weight=1")
	x := newX(t, c, client.Failfast, client.WeightedRoundRobin, client.DefaultOption)
	var seq []int
	for range 7 {
		var r WhoReply
		if err := x.Call(context.Background(), "Who", &WhoArgs{}, &r); err != nil {
			t.Fatal(err)
		}
		seq = append(seq, r.ID)
	}
	// Smooth WRR never sends the heavy server more than two in a row here: a a b a c a a.
	run := 0
	for i := range seq {
		if seq[i] == 0 {
			run++
		} else {
			run = 0
		}
		if run > 2 && i < len(seq)-2 {
			t.Fatalf("sequence %v is not smooth", seq)
		}
	}
	if got := fmt.Sprint(c.counts()); got != "[5 1 1]" {
		t.Fatalf("counts %s, want [5 1 1]", got)
	}
}

func TestInactiveServerGetsNothing(t *testing.T) {
	c := startCluster(t, 3, "", "state=inactive", "")
	x := newX(t, c, client.Failover, client.RoundRobin, client.DefaultOption)
	callN(t, x, 90, "Who")
	counts := c.counts()
	if counts[1] != 0 || counts[0] != 45 || counts[2] != 45 {
		t.Fatalf("counts %v, want [45 0 45]", counts)
	}
}

func TestConsistentHashIsStable(t *testing.T) {
	c := startCluster(t, 3)
	x := newX(t, c, client.Failfast, client.ConsistentHash, client.DefaultOption)
	owner := func(key string) int {
		var r WhoReply
		if err := x.Call(client.WithHashKey(context.Background(), key), "Who", &WhoArgs{}, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	before := map[string]int{}
	perServer := map[int]int{}
	for i := range 300 {
		k := "player-" + strconv.Itoa(i)
		before[k] = owner(k)
		perServer[before[k]]++
		if again := owner(k); again != before[k] {
			t.Fatalf("key %s went to %d then %d", k, before[k], again)
		}
	}
	for id := range 3 {
		if perServer[id] < 50 {
			t.Fatalf("keys per server %v: server %d owns too few", perServer, id)
		}
	}
	// Remove server 2: only its keys move.
	err := c.disc.Update([]discovery.KVPair{{Key: "tcp@" + c.nodes[0].addr}, {Key: "tcp@" + c.nodes[1].addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(x.Endpoints()) == 2 })
	for k, was := range before {
		now := owner(k)
		if was != 2 && now != was {
			t.Fatalf("key %s moved from %d to %d though its server stayed", k, was, now)
		}
		if now == 2 {
			t.Fatalf("key %s still on the removed server", k)
		}
	}
}

func TestClosestSelector(t *testing.T) {
	// Paris, Tokyo, New York; the caller is in Lyon.
	c := startCluster(t, 3, "latitude=48.85&longitude=2.35", "latitude=35.68&longitude=139.69", "latitude=40.71&longitude=-74.0")
	opt := client.DefaultOption
	opt.Latitude, opt.Longitude = 45.76, 4.83
	x := newX(t, c, client.Failfast, client.Closest, opt)
	callN(t, x, 20, "Who")
	if got := fmt.Sprint(c.counts()); got != "[20 0 0]" {
		t.Fatalf("counts %s, want all on the closest server", got)
	}
}

// preferSelector sends every call to the server with the given key while it is a candidate.
type preferSelector struct{ key string }

func (p preferSelector) Select(_ client.SelectInfo, c []*client.Endpoint) int {
	for i, e := range c {
		if e.Key == p.key {
			return i
		}
	}
	return 0
}

func TestUserSelector(t *testing.T) {
	c := startCluster(t, 3)
	opt := client.DefaultOption
	opt.Selector = preferSelector{key: "tcp@" + c.nodes[2].addr}
	x := newX(t, c, client.Failfast, client.SelectByUser, opt)
	callN(t, x, 10, "Who")
	if got := fmt.Sprint(c.counts()); got != "[0 0 10]" {
		t.Fatalf("counts %s", got)
	}
	bad := newX(t, c, client.Failfast, client.SelectByUser, client.DefaultOption)
	if err := bad.Call(context.Background(), "Who", &WhoArgs{}, &WhoReply{}); err == nil {
		t.Fatal("SelectByUser without a Selector should fail")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(time.Millisecond) // polling an external effect, not ordering goroutines
	}
}

func TestRetriesOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name       string
		idempotent bool
		wantErr    bool
		wantOthers bool // whether the other servers received the retried call
	}{
		{"non-idempotent call is not retried after it was sent", false, true, false},
		{"idempotent call is retried", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, 3)
			c.nodes[0].crash.Store(true)
			opt := client.DefaultOption
			opt.Selector = preferSelector{key: "tcp@" + c.nodes[0].addr}
			opt.RetryBackoff = time.Millisecond
			if tt.idempotent {
				opt.IdempotentMethods = []string{"Flaky"}
			}
			x := newX(t, c, client.Failover, client.SelectByUser, opt)
			var r WhoReply
			err := x.Call(context.Background(), "Flaky", &WhoArgs{}, &r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr && !client.IsTransportError(err) && !errors.Is(err, client.ErrShutdown) {
				t.Fatalf("err = %v (%T), want a transport error", err, err)
			}
			if got := c.nodes[0].crashes.Load(); got != 1 {
				t.Fatalf("crashing server ran the handler %d times, want 1", got)
			}
			others := c.nodes[1].calls.Load() + c.nodes[2].calls.Load()
			if (others > 0) != tt.wantOthers {
				t.Fatalf("other servers got %d calls", others)
			}
		})
	}
}

func TestServiceErrorsAreNotRetried(t *testing.T) {
	c := startCluster(t, 3)
	opt := client.DefaultOption
	opt.IdempotentMethods = []string{"Fail"}
	x := newX(t, c, client.Failover, client.RoundRobin, opt)
	err := x.Call(context.Background(), "Fail", &WhoArgs{}, &WhoReply{})
	if !client.IsServiceError(err) {
		t.Fatalf("err = %v, want a service error", err)
	}
	total := c.counts()[0] + c.counts()[1] + c.counts()[2]
	if total != 1 {
		t.Fatalf("handler ran %d times, want 1", total)
	}
}

func TestDeadServerIsFailedOver(t *testing.T) {
	c := startCluster(t, 3)
	c.nodes[1].stop() // listed, but nothing listens
	opt := client.DefaultOption
	opt.RetryBackoff = time.Millisecond
	x := newX(t, c, client.Failover, client.RoundRobin, opt)
	callN(t, x, 60, "Who") // every call succeeds: a refused dial cannot have reached a handler
	if c.counts()[0]+c.counts()[2] != 60 {
		t.Fatalf("counts %v", c.counts())
	}
}

func TestKillAndRestartUnderLoad(t *testing.T) {
	c := startCluster(t, 3)
	opt := client.DefaultOption
	opt.RetryBackoff = time.Millisecond
	opt.RedialBackoff = 10 * time.Millisecond
	opt.RedialBackoffMax = 50 * time.Millisecond
	opt.IdempotentMethods = []string{"Who"}
	opt.BreakerThreshold = -1 // this test is about redialling, not breakers
	x := newX(t, c, client.Failover, client.RoundRobin, opt)

	var (
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
		ok, bad  atomic.Int64
		firstBad atomic.Value
	)
	// Eight callers: at most eight calls are in flight on the victim when it dies, within
	// the retry budget's reserve of ten.
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				err := x.Call(ctx, "Who", &WhoArgs{}, &WhoReply{})
				cancel()
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	waitFor(t, func() bool { return ok.Load() > 300 })
	victim := c.nodes[1]
	victim.stop()
	before := ok.Load()
	waitFor(t, func() bool { return ok.Load() > before+300 })

	// Restart on the same address: the XClient redials and uses it again.
	restarted := startNode(t, 1, victim.addr)
	c.nodes[1] = restarted
	waitFor(t, func() bool { return restarted.calls.Load() > 0 })

	close(stopLoad)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(bound):
		t.Fatal("callers hung after the server was killed")
	}
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d idempotent calls failed despite failover; first: %v", n, firstBad.Load())
	}
}

func TestSlowServerLosesTraffic(t *testing.T) {
	t.Run("least loaded", func(t *testing.T) {
		c := startCluster(t, 3)
		// Far slower than a loaded machine makes the others (race detector, parallel
		// packages), so the check below does not depend on the machine's speed.
		c.nodes[0].delay.Store(int64(100 * time.Millisecond))
		x := newX(t, c, client.Failfast, client.LeastLoaded, client.DefaultOption)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 40 {
					if err := x.Call(context.Background(), "Who", &WhoArgs{}, &WhoReply{}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		counts := c.counts()
		if counts[0]*3 > counts[1] || counts[0]*3 > counts[2] {
			t.Fatalf("slow server got %d calls vs %d and %d: least-loaded did not steer away", counts[0], counts[1], counts[2])
		}
	})
	t.Run("failbackup", func(t *testing.T) {
		c := startCluster(t, 3)
		c.nodes[0].delay.Store(int64(time.Minute)) // it never answers in time
		opt := client.DefaultOption
		opt.Selector = preferSelector{key: "tcp@" + c.nodes[0].addr}
		opt.BackupLatency = 2 * time.Millisecond
		x := newX(t, c, client.Failbackup, client.SelectByUser, opt)
		for range 20 {
			var r WhoReply
			if err := x.Call(context.Background(), "Who", &WhoArgs{}, &r); err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 {
				t.Fatal("the slow server cannot have answered")
			}
		}
		if c.nodes[0].calls.Load() != 20 {
			t.Fatalf("slow server got %d first attempts, want 20", c.nodes[0].calls.Load())
		}
		if got := c.nodes[1].calls.Load() + c.nodes[2].calls.Load(); got != 20 {
			t.Fatalf("backups: %d, want 20", got)
		}
	})
}

func TestFlappingServerOpensBreaker(t *testing.T) {
	c := startCluster(t, 3)
	c.nodes[0].crash.Store(true)
	opt := client.DefaultOption
	opt.Selector = preferSelector{key: "tcp@" + c.nodes[0].addr}
	opt.BreakerThreshold = 3
	opt.BreakerCooldown = time.Hour
	opt.RedialBackoff = time.Nanosecond // redial at once: this test is about the breaker
	x := newX(t, c, client.Failfast, client.SelectByUser, opt)
	for range 10 {
		_ = x.Call(context.Background(), "Flaky", &WhoArgs{}, &WhoReply{})
	}
	if got := c.nodes[0].crashes.Load(); got != 3 {
		t.Fatalf("flapping server got %d calls, want 3 (the breaker threshold)", got)
	}
	open := false
	for _, e := range x.Endpoints() {
		if e.Key == "tcp@"+c.nodes[0].addr {
			open = e.BreakerOpen()
		}
	}
	if !open {
		t.Fatal("breaker of the flapping server is not open")
	}
	if got := c.nodes[1].calls.Load() + c.nodes[2].calls.Load(); got != 7 {
		t.Fatalf("healthy servers got %d calls, want 7", got)
	}
}

func TestFanOut(t *testing.T) {
	c := startCluster(t, 3)
	x := newX(t, c, client.Failfast, client.RandomSelect, client.DefaultOption)
	ctx := context.Background()
	var r WhoReply
	if err := x.Broadcast(ctx, "Who", &WhoArgs{}, &r); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.counts()); got != "[1 1 1]" {
		t.Fatalf("broadcast counts %s", got)
	}
	if err := x.Broadcast(ctx, "Fail", &WhoArgs{}, &r); !client.IsServiceError(err) {
		t.Fatalf("broadcast of a failing method: %v", err)
	}
	if err := x.Fork(ctx, "Who", &WhoArgs{}, &r); err != nil {
		t.Fatal(err)
	}
	receipts, err := x.Inform(ctx, "Who", &WhoArgs{}, &r)
	if err != nil || len(receipts) != 3 {
		t.Fatalf("inform: %v, %d receipts", err, len(receipts))
	}
	seen := map[int]bool{}
	for _, rc := range receipts {
		if rc.Error != nil {
			t.Fatal(rc.Error)
		}
		seen[rc.Reply.(*WhoReply).ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("inform replies from %v", seen)
	}
	if err := x.Oneshot(ctx, "Who", &WhoArgs{}); err != nil {
		t.Fatal(err)
	}
	call := <-x.Go(ctx, "Who", &WhoArgs{}, &r, nil).Done
	if call.Error != nil {
		t.Fatal(call.Error)
	}
}

func TestNoServer(t *testing.T) {
	d, err := discovery.NewMultipleServers(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	x := client.NewXClient("Node", client.Failover, client.RandomSelect, d, client.DefaultOption)
	defer x.Close()
	if err := x.Call(context.Background(), "Who", &WhoArgs{}, &WhoReply{}); !errors.Is(err, client.ErrNoServer) {
		t.Fatalf("err = %v, want ErrNoServer", err)
	}
}

// A server leaving the list (drained, or gone from the registry) still answers the calls
// already sent to it; its connection closes after the last one.
func TestServerLeavingTheListFinishesCallsInFlight(t *testing.T) {
	s, a, addr := testsvc.NewArithServer(t)
	d, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()

	done := make(chan error, 1)
	var reply testsvc.Reply
	go func() { done <- x.Call(context.Background(), "Block", &testsvc.Args{A: 6, B: 7}, &reply) }()
	testsvc.Recv(t, a.Entered, "the call to reach the handler")

	if err := d.Update(nil); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the XClient to drop the server", func() bool { return len(x.Endpoints()) == 0 })
	if n := len(s.ActiveClientConn()); n != 1 {
		t.Fatalf("%d connections open while a call is in flight, want 1", n)
	}
	a.Release <- struct{}{}
	if err := testsvc.Recv(t, done, "the call to end"); err != nil || reply.C != 42 {
		t.Fatalf("call in flight ended with %v, reply %d", err, reply.C)
	}
	testsvc.Eventually(t, "the idle connection to close", func() bool { return len(s.ActiveClientConn()) == 0 })
}
