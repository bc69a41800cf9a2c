package embedded_test

import (
	"context"
	"log"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
)

// A demo runs its own etcd, so that it needs nothing installed; the data stays in
// ./etcd-data across runs.
func Example() {
	srv, err := embedded.Start(context.Background(), embedded.Config{
		Dir:        "etcd-data",
		ClientAddr: "127.0.0.1:2379",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	// ... etcd.NewRegistrar(cli, ...), etcd.NewDiscovery(cli, ...)
}
