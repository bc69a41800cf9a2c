// Package scenario is brisk's seed scenario, the program behind make demo (examples/game)
// and brisk demo: a GameServer that keeps live player statistics in a cluster of
// PlayerStatsService servers, calling them over brisk for every match event.
//
// [RunCluster] starts an etcd server inside the process (nothing to install) unless given
// one, three PlayerStatsService servers on loopback ports that register themselves in it,
// and a GameServer that discovers them there and drives them with simulated players through
// one XClient. Consistent hashing on the player id keeps each player's stats on one server;
// Failover moves calls when a server fails. Halfway through, one server drains: it marks
// itself inactive in etcd, the GameServer stops choosing it, and it shuts down and leaves
// the registry, without a failed call. Every server pushes live rank changes (a new top
// score) to the GameServer, which subscribed to them. It prints each step, how many calls
// were made, their latency and how they spread over the servers.
//
// [Serve] only serves (registering in an etcd if given); [PlayStatic] only plays against
// running servers.
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
	"github.com/brisk-rpc/brisk/server"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BasePath is where the demo's servers register (rpcx's layout under its own root).
const BasePath = "/brisk_demo"

// ServiceName is the service the GameServer calls.
const ServiceName = "PlayerStatsService"

// RankTopic is the push topic of live rank changes.
const RankTopic = "ranks"

// MatchResult is one player's outcome of one match.
type MatchResult struct {
	PlayerID int64
	Kills    int
	Deaths   int
	Won      bool
}

// PlayerID names a player.
type PlayerID struct{ ID int64 }

// PlayerStats are a player's running totals.
type PlayerStats struct {
	ID      int64
	Matches int
	Wins    int
	Kills   int
	Deaths  int
	Score   int
}

// PlayerStatsService keeps every player's totals in memory.
type PlayerStatsService struct {
	calls  atomic.Int64
	mu     sync.Mutex
	stats  map[int64]*PlayerStats
	best   int              // the top score on this server
	onRank func(RankChange) // told of every new top score (the server pushes it)
}

// RankChange is pushed to subscribed GameServers when a player takes the top score.
type RankChange struct {
	PlayerID int64
	Score    int
}

// UpdatePlayerStats records a match result and replies with the player's new score.
func (s *PlayerStatsService) UpdatePlayerStats(ctx context.Context, r *MatchResult, score *int) error {
	s.calls.Add(1)
	if r.Kills < 0 || r.Deaths < 0 {
		return errors.New("kills and deaths cannot be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.stats[r.PlayerID]
	if p == nil {
		p = &PlayerStats{ID: r.PlayerID}
		s.stats[r.PlayerID] = p
	}
	p.Matches++
	p.Kills += r.Kills
	p.Deaths += r.Deaths
	if r.Won {
		p.Wins++
	}
	p.Score = 10*p.Kills - 5*p.Deaths + 50*p.Wins
	*score = p.Score
	if p.Score > s.best && s.onRank != nil {
		s.best = p.Score
		s.onRank(RankChange{PlayerID: p.ID, Score: p.Score}) // under mu: pushes keep score order
	}
	return nil
}

// GetPlayerStats replies with a player's totals.
func (s *PlayerStatsService) GetPlayerStats(ctx context.Context, id PlayerID, reply *PlayerStats) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.stats[id.ID]
	if p == nil {
		return fmt.Errorf("no player %d", id.ID)
	}
	*reply = *p
	return nil
}

// node is one PlayerStatsService server of the cluster.
type node struct {
	addr string
	srv  *server.Server
	svc  *PlayerStatsService
	reg  *registry.Registrar // nil without a registry
}

func newNode(addr string, reg *registry.Registrar) (*node, error) {
	var opts []server.Option
	if reg != nil {
		opts = append(opts, server.WithRegistrar(reg))
	}
	n := &node{addr: addr, srv: server.NewServer(opts...), reg: reg,
		svc: &PlayerStatsService{stats: map[int64]*PlayerStats{}}}
	n.svc.onRank = func(rc RankChange) {
		data, _ := json.Marshal(rc)
		// A GameServer that cannot keep up is handled by the server's push policy.
		_, _ = n.srv.Publish(RankTopic, ServiceName, "RankChanged", nil, data)
	}
	if err := n.srv.RegisterName(ServiceName, n.svc, "weight=1"); err != nil {
		_ = n.srv.Close()
		return nil, err
	}
	return n, nil
}

// connectEtcd returns a client of the etcd at endpoints, logging nothing.
func connectEtcd(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// Serve runs one PlayerStatsService on addr (registered in the etcd at etcdAddr, if given)
// until ctx ends, then shuts it down gracefully.
func Serve(ctx context.Context, out io.Writer, addr, etcdAddr string) error {
	var reg *registry.Registrar
	if etcdAddr != "" {
		cli, err := connectEtcd([]string{etcdAddr})
		if err != nil {
			return err
		}
		defer cli.Close()
		if reg, err = etcd.NewRegistrar(cli, "tcp@"+addr, registry.WithBasePath(BasePath)); err != nil {
			return err
		}
	}
	n, err := newNode(addr, reg)
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	defer func() { <-stopped }()
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.srv.Shutdown(sctx)
	})
	defer func() {
		if stop() { // ctx never ended: nothing is shutting the server down
			close(stopped)
		}
	}()
	fmt.Fprintln(out, "PlayerStatsService listening on", addr)
	if err := n.srv.Serve("tcp", addr); !errors.Is(err, server.ErrServerClosed) {
		_ = n.srv.Close()
		return err
	}
	return nil
}

// RunCluster starts an embedded etcd (unless etcdAddr is given) and n servers registered in
// it, plays against them through discovery with the given number of simulated players for
// duration (less if ctx ends first), drains one server halfway through, and writes what
// happens to out. It returns the first failed call, if any.
func RunCluster(ctx context.Context, out io.Writer, etcdAddr string, n, players int, duration time.Duration) error {
	if n < 2 || players < 1 || duration <= 0 {
		return fmt.Errorf("the scenario needs at least 2 servers, 1 player and a positive duration (got %d, %d, %v)", n, players, duration)
	}
	endpoints := []string{etcdAddr}
	if etcdAddr == "" {
		e, err := embedded.Start(ctx, embedded.Config{UnsafeNoFsync: true})
		if err != nil {
			return fmt.Errorf("starting the embedded etcd: %w", err)
		}
		defer e.Close()
		endpoints = e.Endpoints()
		fmt.Fprintf(out, "registry: embedded etcd at %s\n", strings.Join(endpoints, ","))
	}
	cli, err := connectEtcd(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()

	nodes := make([]*node, 0, n)
	defer func() {
		for _, nd := range nodes {
			_ = nd.srv.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr := ln.Addr().String()
		reg, err := etcd.NewRegistrar(cli, "tcp@"+addr, registry.WithBasePath(BasePath), registry.WithTTL(10*time.Second))
		if err != nil {
			ln.Close()
			return err
		}
		nd, err := newNode(addr, reg)
		if err != nil {
			ln.Close()
			_ = reg.Close(ctx)
			return err
		}
		go func() { _ = nd.srv.ServeListener(ln) }()
		nodes = append(nodes, nd)
		fmt.Fprintf(out, "server %d: serving on %s, registered as %s\n", len(nodes)-1, addr,
			registry.Key(BasePath, ServiceName, "tcp@"+addr))
	}

	d, err := etcd.NewDiscovery(cli, ServiceName, registry.WithBasePath(BasePath))
	if err != nil {
		return err
	}
	defer d.Close()
	list, err := waitForList(d, func(l []discovery.Server) bool { return len(l) == n })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GameServer: discovered %d servers in etcd: %v\n", len(list), list)
	ranks, err := subscribeRanks(list)
	if err != nil {
		return err
	}
	defer ranks.close()
	fmt.Fprintf(out, "GameServer: subscribed to live rank changes (topic %q) on every server\n", RankTopic)

	// Halfway through, the last server drains and leaves while the players go on.
	leaving := nodes[len(nodes)-1]
	drained := make(chan error, 1)
	timer := time.AfterFunc(duration/2, func() { drained <- drain(out, d, leaving) })
	defer timer.Stop()
	if err := play(ctx, out, d, nodes, players, duration); err != nil {
		return err
	}
	if err := <-drained; err != nil {
		return err
	}
	pushes, outOfOrder := ranks.report()
	fmt.Fprintf(out, "GameServer: received %d live rank pushes, %d out of order\n", pushes, outOfOrder)
	if outOfOrder > 0 {
		return fmt.Errorf("%d rank pushes arrived out of order", outOfOrder)
	}
	return nil
}

// rankWatch holds the GameServer's subscriptions: one connection per PlayerStatsService
// server, whose pushes it counts and checks for order (each server's top score only rises).
type rankWatch struct {
	clients    []*client.Client
	received   atomic.Int64
	outOfOrder atomic.Int64
}

func subscribeRanks(list []discovery.Server) (*rankWatch, error) {
	w := &rankWatch{}
	for _, srv := range list {
		best := 0 // read and written only by this connection's read loop
		opt := client.DefaultOption
		opt.PushHandler = func(m *protocol.Message) {
			var rc RankChange
			if json.Unmarshal(m.Payload, &rc) != nil || rc.Score <= best {
				w.outOfOrder.Add(1)
			}
			best = rc.Score
			w.received.Add(1)
		}
		c := client.NewClient(opt)
		if err := c.Connect(srv.Network, srv.Address); err != nil {
			w.close()
			return nil, err
		}
		w.clients = append(w.clients, c)
		if err := c.Subscribe(context.Background(), RankTopic); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *rankWatch) report() (int64, int64) { return w.received.Load(), w.outOfOrder.Load() }

func (w *rankWatch) close() {
	for _, c := range w.clients {
		_ = c.Close()
	}
}

// drainQuiet is how long a draining server must see no call before it shuts down.
const drainQuiet = 200 * time.Millisecond

// drain takes nd out of service the graceful way: mark it inactive in the registry, wait
// until the GameServer's discovery no longer lists it and no call has arrived for
// drainQuiet, then shut it down (which deletes its entry and lets calls in flight finish).
func drain(out io.Writer, d discovery.Discovery, nd *node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.reg.SetInactive(ctx, true); err != nil {
		return err
	}
	fmt.Fprintf(out, "server %s: draining (state=inactive in etcd)\n", nd.addr)
	list, err := waitForList(d, func(l []discovery.Server) bool {
		return !slices.ContainsFunc(l, func(s discovery.Server) bool { return s.Address == nd.addr })
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GameServer: now calling %v\n", list)
	// Drain waits until no call has arrived for a moment (a call the GameServer had already
	// aimed at this server may still be on its way) and then shuts down, so no call fails.
	if err := nd.srv.Drain(ctx, drainQuiet); err != nil {
		return err
	}
	served := nd.svc.calls.Load()
	fmt.Fprintf(out, "server %s: shut down after %d calls; its etcd entry is deleted\n", nd.addr, served)
	return nil
}

// waitForList waits up to 10 s for d to list servers that ok accepts.
func waitForList(d discovery.Discovery, ok func([]discovery.Server) bool) ([]discovery.Server, error) {
	ch, stop := d.Watch()
	defer stop()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case list := <-ch:
			if ok(list) {
				return list, nil
			}
		case <-timeout.C:
			return nil, fmt.Errorf("discovery still lists %v", d.Servers())
		}
	}
}

// movedPlayer reports whether err says the player's stats were not found on the server
// the read went to: the update went to the player's old server and the read to the new one,
// because the server list changed in between (a drain). Every call succeeded; the demo
// keeps stats in each server's memory, so they restart on the new server.
func movedPlayer(err error) bool {
	var se client.ServiceError
	return errors.As(err, &se) && strings.HasPrefix(string(se), "no player ")
}

// PlayStatic plays against fixed servers (host:port addresses), without a registry, and
// writes the results to out.
func PlayStatic(ctx context.Context, out io.Writer, addrs []string, players int, duration time.Duration) error {
	var pairs []discovery.KVPair
	for _, a := range addrs {
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + a})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		return err
	}
	defer d.Close()
	return play(ctx, out, d, nil, players, duration)
}

// play is the GameServer: every player reports match results and reads its stats back,
// through one XClient over the servers d lists. nodes, if known, are reported on.
func play(ctx context.Context, out io.Writer, d discovery.Discovery, nodes []*node, players int, duration time.Duration) error {
	opt := client.DefaultOption
	opt.IdempotentMethods = []string{"GetPlayerStats"}
	xc := client.NewXClient(ServiceName, client.Failover, client.ConsistentHash, d, opt)
	defer xc.Close()
	fmt.Fprintf(out, "GameServer: %d players playing for %v (XClient: Failover, ConsistentHash on player id)\n", players, duration)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		moved     int
		firstErr  error
	)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for p := range players {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(id), 42))
			var mine []time.Duration
			var fails, moves int
			var ferr error
			key := strconv.FormatInt(id, 10)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				ctx = client.WithHashKey(ctx, key) // one player's stats live on one server
				start := time.Now()
				var score int
				err := xc.Call(ctx, "UpdatePlayerStats",
					&MatchResult{PlayerID: id, Kills: rng.IntN(10), Deaths: rng.IntN(8), Won: rng.IntN(2) == 0}, &score)
				if err == nil {
					var stats PlayerStats
					err = xc.Call(ctx, "GetPlayerStats", PlayerID{ID: id}, &stats)
					if err == nil && stats.Score != score {
						err = fmt.Errorf("player %d: score %d, stats say %d", id, score, stats.Score)
					}
				}
				cancel()
				mine = append(mine, time.Since(start)/2)
				if movedPlayer(err) {
					moves++
				} else if err != nil {
					fails++
					if ferr == nil {
						ferr = err
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += fails
			moved += moves
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		}(int64(p))
	}
	wg.Wait()

	calls := 2 * len(latencies)
	slices.Sort(latencies)
	q := func(f float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(f*float64(len(latencies))))]
	}
	fmt.Fprintf(out, "calls made: %d (%.0f calls/s), failed: %d\n", calls, float64(calls)/duration.Seconds(), failures)
	if moved > 0 {
		fmt.Fprintf(out, "players moved by the drain mid-update: %d (their in-memory stats restart on the new server)\n", moved)
	}
	fmt.Fprintf(out, "latency per call: p50 %v, p99 %v, p99.9 %v\n", q(0.50), q(0.99), q(0.999))
	for i, nd := range nodes {
		c := nd.svc.calls.Load()
		fmt.Fprintf(out, "  server %d (%s): %d calls (%.1f%%)\n", i, nd.addr, c, 100*float64(c)/float64(max(calls, 1)))
	}
	if firstErr != nil {
		return fmt.Errorf("%d calls failed, first: %w", failures, firstErr)
	}
	return nil
}
