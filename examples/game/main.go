// Command game is brisk's seed scenario: a GameServer that keeps live player statistics in
// a cluster of PlayerStatsService servers, calling them over brisk for every match event.
//
// By default it starts three PlayerStatsService servers in-process on loopback ports and
// drives them with simulated players through one XClient. Consistent hashing on the player
// id keeps each player's stats on one server; Failover moves calls when a server fails.
// It prints how many calls were made, their latency and how they spread over the servers:
//
//	go run ./examples/game
//	go run ./examples/game -servers 5 -players 500 -duration 5s
//
// With -listen it only serves; with -connect host:port,host:port it only plays against
// running servers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/server"
)

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
	calls atomic.Int64
	mu    sync.Mutex
	stats map[int64]*PlayerStats
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

func main() {
	listen := flag.String("listen", "", "only serve PlayerStatsService on this address (e.g. :8972)")
	connect := flag.String("connect", "", "only play against the servers at these comma-separated addresses")
	servers := flag.Int("servers", 3, "PlayerStatsService servers to start in-process")
	players := flag.Int("players", 200, "simulated players, each a goroutine calling in a loop")
	duration := flag.Duration("duration", 3*time.Second, "how long to play")
	flag.Parse()
	var err error
	switch {
	case *listen != "":
		err = serve(*listen)
	case *connect != "":
		err = play(strings.Split(*connect, ","), nil, *players, *duration)
	default:
		err = runCluster(*servers, *players, *duration)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "game:", err)
		os.Exit(1)
	}
}

func newServer() (*server.Server, *PlayerStatsService, error) {
	s := server.NewServer()
	svc := &PlayerStatsService{stats: map[int64]*PlayerStats{}}
	err := s.RegisterName("PlayerStatsService", svc, "")
	return s, svc, err
}

// serve runs one PlayerStatsService until interrupted, then shuts down gracefully.
func serve(addr string) error {
	s, _, err := newServer()
	if err != nil {
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	fmt.Println("PlayerStatsService listening on", addr)
	if err := s.Serve("tcp", addr); !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}

// runCluster starts n servers on loopback and plays against them.
func runCluster(n, players int, duration time.Duration) error {
	var addrs []string
	var services []*PlayerStatsService
	for range n {
		s, svc, err := newServer()
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() { _ = s.ServeListener(ln) }()
		defer func() { _ = s.Close() }()
		addrs = append(addrs, ln.Addr().String())
		services = append(services, svc)
	}
	fmt.Printf("started %d PlayerStatsService servers: %s\n", n, strings.Join(addrs, ", "))
	return play(addrs, services, players, duration)
}

// play is the GameServer: every player reports match results and reads its stats back,
// through one XClient over all the servers.
func play(addrs []string, services []*PlayerStatsService, players int, duration time.Duration) error {
	var pairs []discovery.KVPair
	for _, a := range addrs {
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + a})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		return err
	}
	defer d.Close()
	opt := client.DefaultOption
	opt.IdempotentMethods = []string{"GetPlayerStats"}
	xc := client.NewXClient("PlayerStatsService", client.Failover, client.ConsistentHash, d, opt)
	defer xc.Close()
	fmt.Printf("GameServer: %d players playing for %v (XClient: Failover, ConsistentHash on player id)\n", players, duration)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
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
			var fails int
			var ferr error
			key := strconv.FormatInt(id, 10)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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
				if err != nil {
					fails++
					if ferr == nil {
						ferr = err
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += fails
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
	fmt.Printf("calls made: %d (%.0f calls/s), failed: %d\n", calls, float64(calls)/duration.Seconds(), failures)
	fmt.Printf("latency per call: p50 %v, p99 %v, p99.9 %v\n", q(0.50), q(0.99), q(0.999))
	for i, svc := range services {
		n := svc.calls.Load()
		fmt.Printf("  server %d (%s): %d calls (%.1f%%)\n", i, addrs[i], n, 100*float64(n)/float64(max(calls, 1)))
	}
	if firstErr != nil {
		return fmt.Errorf("%d calls failed, first: %w", failures, firstErr)
	}
	return nil
}
