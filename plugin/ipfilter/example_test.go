package ipfilter_test

import (
	"fmt"
	"net/netip"

	"github.com/brisk-rpc/brisk/plugin/ipfilter"
	"github.com/brisk-rpc/brisk/server"
)

func Example() {
	f, err := ipfilter.New(
		[]string{"10.0.0.0/8", "127.0.0.1", "::1"}, // allow
		[]string{"10.9.0.0/16"},                    // deny, which wins
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := server.NewServer(server.WithConnHooks(f.ConnHooks()))
	defer s.Close()

	for _, ip := range []string{"10.1.2.3", "10.9.0.1", "::ffff:127.0.0.1", "192.0.2.1"} {
		fmt.Println(ip, f.Allowed(netip.MustParseAddr(ip)))
	}
	// Output:
	// 10.1.2.3 true
	// 10.9.0.1 false
	// ::ffff:127.0.0.1 true
	// 192.0.2.1 false
}
