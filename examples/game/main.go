// Command game is brisk's seed scenario: a GameServer that keeps live player statistics in
// a PlayerStatsService, calling it over brisk for every match event.
//
// By default it starts the service in-process on a loopback port and drives it with
// simulated players, then prints how many calls were made and their latency:
//
//	go run ./examples/game
//	go run ./examples/game -players 500 -duration 5s
//
// With -listen it only serves; with -connect it only plays against a running service.
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
	"sync"
	"time"

	"github.com/brisk-rpc/brisk/client"
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
	mu    sync.Mutex
	stats map[int64]*PlayerStats
}

// UpdatePlayerStats records a match result and replies with the player's new score.
func (s *PlayerStatsService) UpdatePlayerStats(ctx context.Context, r *MatchResult, score *int) error {
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
	connect := flag.String("connect", "", "only play against the service at this address")
	players := flag.Int("players", 200, "simulated players, each a goroutine calling in a loop")
	duration := flag.Duration("duration", 3*time.Second, "how long to play")
	flag.Parse()
	if err := run(*listen, *connect, *players, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "game:", err)
		os.Exit(1)
	}
}

func run(listen, connect string, players int, duration time.Duration) error {
	if listen != "" {
		s, err := newServer()
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
		fmt.Println("PlayerStatsService listening on", listen)
		if err := s.Serve("tcp", listen); !errors.Is(err, server.ErrServerClosed) {
			return err
		}
		return nil
	}
	addr := connect
	if addr == "" {
		s, err := newServer()
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() { _ = s.ServeListener(ln) }()
		defer func() { _ = s.Close() }()
		addr = ln.Addr().String()
		fmt.Println("PlayerStatsService started on", addr)
	}
	return play(addr, players, duration)
}

func newServer() (*server.Server, error) {
	s := server.NewServer()
	err := s.RegisterName("PlayerStatsService", &PlayerStatsService{stats: map[int64]*PlayerStats{}}, "")
	return s, err
}

// play is the GameServer: every player reports match results and reads its stats back.
func play(addr string, players int, duration time.Duration) error {
	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", addr); err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("GameServer: %d players playing for %v over one connection\n", players, duration)

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
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				start := time.Now()
				var score int
				err := c.Call(ctx, "PlayerStatsService.UpdatePlayerStats",
					&MatchResult{PlayerID: id, Kills: rng.IntN(10), Deaths: rng.IntN(8), Won: rng.IntN(2) == 0}, &score)
				if err == nil {
					var stats PlayerStats
					err = c.Call(ctx, "PlayerStatsService.GetPlayerStats", PlayerID{ID: id}, &stats)
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
	if firstErr != nil {
		return fmt.Errorf("%d calls failed, first: %w", failures, firstErr)
	}
	return nil
}
