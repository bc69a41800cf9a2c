package discovery_test

import (
	"fmt"

	"github.com/brisk-rpc/brisk/discovery"
)

func ExampleNewPeer2Peer() {
	d, err := discovery.NewPeer2Peer("tcp@127.0.0.1:8972", "weight=10&group=blue")
	if err != nil {
		panic(err)
	}
	defer d.Close()
	for _, s := range d.Servers() {
		fmt.Println(s.Network, s.Address, s.Weight, s.Groups)
	}
	// Output: tcp 127.0.0.1:8972 10 [blue]
}

func ExampleNewMultipleServers() {
	d, err := discovery.NewMultipleServers([]discovery.KVPair{
		{Key: "tcp@10.0.0.1:8972", Value: "weight=2"},
		{Key: "tcp@10.0.0.2:8972", Value: ""},
	})
	if err != nil {
		panic(err)
	}
	defer d.Close()

	ch, stop := d.Watch()
	defer stop()
	fmt.Println(<-ch) // the current list, at once

	// Drain 10.0.0.1 (state=inactive servers are left out) and add a server.
	err = d.Update([]discovery.KVPair{
		{Key: "tcp@10.0.0.1:8972", Value: "weight=2&state=inactive"},
		{Key: "tcp@10.0.0.2:8972", Value: ""},
		{Key: "unix@/run/app.sock", Value: ""},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(<-ch)
	// Output:
	// [tcp@10.0.0.1:8972 tcp@10.0.0.2:8972]
	// [tcp@10.0.0.2:8972 unix@/run/app.sock]
}

func ExampleParseMetadata() {
	md, err := discovery.ParseMetadata("weight=5&group=a&group=b&latitude=48.85&longitude=2.35&tps=100")
	if err != nil {
		panic(err)
	}
	fmt.Println(md.Weight, md.Groups, md.Inactive, md.HasGeo, md.Latitude, md.Longitude, md.Values.Get("tps"))
	// Output: 5 [a b] false true 48.85 2.35 100
}
