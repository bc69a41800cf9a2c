package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"sort"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/server"
)

// Region is a service whose servers say who they are.
type Region struct{ name string }

func (r *Region) Name(ctx context.Context, args *Args, reply *string) error {
	*reply = r.name
	return nil
}

// startRegions starts one server per name and returns a discovery listing them with the
// given metadata, and a function that stops everything.
func startRegions(names, metadata []string) (*discovery.MultipleServers, func()) {
	var pairs []discovery.KVPair
	var servers []*server.Server
	for i, name := range names {
		s := server.NewServer()
		if err := s.RegisterName("Region", &Region{name: name}, ""); err != nil {
			log.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		go s.ServeListener(ln)
		servers = append(servers, s)
		md := ""
		if i < len(metadata) {
			md = metadata[i]
		}
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + ln.Addr().String(), Value: md})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		log.Fatal(err)
	}
	return d, func() {
		d.Close()
		for _, s := range servers {
			s.Close()
		}
	}
}

func tally(x *client.XClient, n int) map[string]int {
	counts := map[string]int{}
	for range n {
		var name string
		if err := x.Call(context.Background(), "Name", &Args{}, &name); err != nil {
			log.Fatal(err)
		}
		counts[name]++
	}
	return counts
}

// Round robin over three servers, with Failover to another server when one fails.
func ExampleNewXClient() {
	d, stop := startRegions([]string{"eu", "us", "asia"}, nil)
	defer stop()
	x := client.NewXClient("Region", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	fmt.Println(tally(x, 9))
	// Output: map[asia:3 eu:3 us:3]
}

// Smooth weighted round robin follows the servers' weight metadata.
func ExampleNewXClient_weighted() {
	d, stop := startRegions([]string{"big", "small"}, []string{"weight=3", "weight=1"})
	defer stop()
	x := client.NewXClient("Region", client.Failfast, client.WeightedRoundRobin, d, client.DefaultOption)
	defer x.Close()
	fmt.Println(tally(x, 8))
	// Output: map[big:6 small:2]
}

// Servers marked state=inactive get no calls: drain a server without deregistering it.
func ExampleNewXClient_inactive() {
	d, stop := startRegions([]string{"live", "draining"}, []string{"", "state=inactive"})
	defer stop()
	x := client.NewXClient("Region", client.Failover, client.RandomSelect, d, client.DefaultOption)
	defer x.Close()
	fmt.Println(tally(x, 5))
	// Output: map[live:5]
}

// ConsistentHash keeps every call with the same key on the same server.
func ExampleWithHashKey() {
	d, stop := startRegions([]string{"a", "b", "c"}, nil)
	defer stop()
	x := client.NewXClient("Region", client.Failover, client.ConsistentHash, d, client.DefaultOption)
	defer x.Close()
	ctx := client.WithHashKey(context.Background(), "player-42")
	servers := map[string]bool{}
	for range 10 {
		var name string
		if err := x.Call(ctx, "Name", &Args{}, &name); err != nil {
			log.Fatal(err)
		}
		servers[name] = true
	}
	fmt.Println("servers used for player-42:", len(servers))
	// Output: servers used for player-42: 1
}

// Broadcast calls every server; Inform returns each server's own outcome.
func ExampleXClient_Inform() {
	d, stop := startRegions([]string{"eu", "us"}, nil)
	defer stop()
	x := client.NewXClient("Region", client.Failfast, client.RandomSelect, d, client.DefaultOption)
	defer x.Close()
	var name string
	if err := x.Broadcast(context.Background(), "Name", &Args{}, &name); err != nil {
		log.Fatal(err)
	}
	receipts, err := x.Inform(context.Background(), "Name", &Args{}, &name)
	if err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, r := range receipts {
		names = append(names, *r.Reply.(*string))
	}
	sort.Strings(names)
	fmt.Println(names)
	// Output: [eu us]
}

// Closest sends calls to the server nearest the caller, by latitude/longitude metadata.
func ExampleNewXClient_closest() {
	d, stop := startRegions([]string{"paris", "tokyo"},
		[]string{"latitude=48.85&longitude=2.35", "latitude=35.68&longitude=139.69"})
	defer stop()
	opt := client.DefaultOption
	opt.Latitude, opt.Longitude = 51.5, -0.12 // London
	x := client.NewXClient("Region", client.Failover, client.Closest, d, opt)
	defer x.Close()
	fmt.Println(tally(x, 3))
	// Output: map[paris:3]
}

// Failbackup asks a second server when the first is slow; LeastLoaded steers by load.
func ExampleNewXClient_failbackup() {
	d, stop := startRegions([]string{"a", "b"}, nil)
	defer stop()
	opt := client.DefaultOption
	opt.IdempotentMethods = []string{"Name"} // safe to retry after it was sent
	x := client.NewXClient("Region", client.Failbackup, client.LeastLoaded, d, opt)
	defer x.Close()
	var name string
	err := x.Call(context.Background(), "Name", &Args{}, &name)
	fmt.Println(err == nil && name != "")
	// Output: true
}
