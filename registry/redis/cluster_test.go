package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/redis"
)

// startCluster starts a Redis Cluster of two masters, each serving half of the slots, and
// returns their addresses once both see the cluster as ok.
func startCluster(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var nodes []*goredis.Client
	for i := range 2 {
		p := realsvc.StartRedis(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		addrs = append(addrs, p.Addr())
		c := goredis.NewClient(&goredis.Options{Addr: p.Addr()})
		t.Cleanup(func() { c.Close() })
		nodes = append(nodes, c)
		first, last := i*8192, i*8192+8191
		if err := c.ClusterAddSlotsRange(ctx, first, last).Err(); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(addrs[1], ":")
	if err := nodes[0].ClusterMeet(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	// Forming a cluster takes a few gossip rounds; allow more than testsvc.Bound.
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range nodes {
		for {
			info := c.ClusterInfo(ctx).Val()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:2") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cluster did not form: %s", info)
			}
			time.Sleep(20 * time.Millisecond) // polling a server's state; nothing to wait on
		}
	}
	return addrs
}

// TestCluster: on a Redis Cluster, entries spread over the masters are all listed (SCAN
// on every master, pipelined GETs), and the Discovery polls (notifications are per node).
func TestCluster(t *testing.T) {
	t.Parallel()
	addrs := startCluster(t)
	cli := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()

	d, err := redis.NewDiscovery(cli, "Arith", opts()...)
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := d.Watch()
	t.Cleanup(func() { stop(); d.Close() })

	var want []string
	var regs []*registry.Registrar
	for i := range 8 {
		addr := fmt.Sprintf("tcp@127.0.0.1:%d", 30000+i)
		r, err := redis.NewRegistrar(cli, addr, opts()...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(ctx) })
		if err := r.Register(ctx, "Arith", fmt.Sprint("weight=", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, addr)
		regs = append(regs, r)
	}
	// The entries are spread over both masters, or the test proves little.
	perNode := make(map[string]int)
	for _, addr := range want {
		slot := cli.ClusterKeySlot(ctx, registry.Key("", "Arith", addr)).Val()
		perNode[fmt.Sprint(slot < 8192)]++
	}
	if len(perNode) != 2 {
		t.Fatalf("all entries hash to one master: %v", perNode)
	}
	registrytest.Await(t, ch, "every server", registrytest.KeysAre(want...))
	if err := regs[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	registrytest.Await(t, ch, "the withdrawn server gone", registrytest.KeysAre(want[1:]...))
	testsvc.Eventually(t, "no error", func() bool { return d.Err() == nil })
	err = cli.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		if np := n.PubSubNumPat(ctx).Val(); np != 0 {
			return fmt.Errorf("%d pattern subscriptions on %s", np, n.Options().Addr)
		}
		return nil
	})
	if err != nil {
		t.Errorf("the Discovery should poll on a cluster: %v", err)
	}
}
