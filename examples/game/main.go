// Command game runs brisk's seed scenario (package scenario): a GameServer that keeps live
// player statistics in a cluster of PlayerStatsService servers registered in etcd, with a
// drain halfway through and live rank pushes. make demo and brisk demo run it:
//
//	go run ./game                 (from examples/; make demo does this)
//	go run ./game -servers 5 -players 500 -duration 5s
//
// With -etcd host:port it uses that etcd instead of an embedded one. With -listen it only
// serves (registering in -etcd if given); with -connect host:port,host:port it only plays
// against running servers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/examples/game/scenario"
)

func main() {
	listen := flag.String("listen", "", "only serve PlayerStatsService on this address (e.g. 127.0.0.1:8972)")
	connect := flag.String("connect", "", "only play against the servers at these comma-separated addresses")
	etcdAddr := flag.String("etcd", "", "use the etcd at this host:port instead of an embedded one")
	servers := flag.Int("servers", 3, "PlayerStatsService servers to start in-process")
	players := flag.Int("players", 200, "simulated players, each a goroutine calling in a loop")
	duration := flag.Duration("duration", 4*time.Second, "how long to play")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	var err error
	switch {
	case *listen != "":
		err = scenario.Serve(ctx, os.Stdout, *listen, *etcdAddr)
	case *connect != "":
		err = scenario.PlayStatic(ctx, os.Stdout, strings.Split(*connect, ","), *players, *duration)
	default:
		err = scenario.RunCluster(ctx, os.Stdout, *etcdAddr, *servers, *players, *duration)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "game:", err)
		os.Exit(1)
	}
}
