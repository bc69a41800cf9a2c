package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/brisk-rpc/brisk/examples/game/scenario"
)

func newDemoCmd() *cobra.Command {
	var (
		etcdAddr string
		servers  int
		players  int
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the game scenario (what make demo runs)",
		Long: `Run brisk's seed scenario, the one make demo runs: an embedded etcd, PlayerStatsService
servers registered in it, and a GameServer driving them with simulated players through one
XClient (Failover, ConsistentHash), with one server draining halfway through and live rank
pushes. Ctrl-C ends the game early.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := scenario.RunCluster(cmd.Context(), cmd.OutOrStdout(), etcdAddr, servers, players, duration)
			if err != nil {
				return withCode(exitService, err)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&etcdAddr, "etcd", "", "use the etcd at this host:port instead of an embedded one")
	fs.IntVar(&servers, "servers", 3, "PlayerStatsService servers to start")
	fs.IntVar(&players, "players", 200, "simulated players")
	fs.DurationVar(&duration, "duration", 4*time.Second, "how long to play")
	return cmd
}
