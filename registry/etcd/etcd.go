// Package etcd is brisk's etcd (v3 API) service registry: a server advertises its services
// as keys bound to a lease, clients list and watch them, in exactly the layout rpcx's etcd
// v3 plugin uses, so brisk and rpcx servers and clients find each other.
//
// # Layout
//
// One key per (service, server), <basePath>/<service>/<network@host:port> verbatim (with
// its leading slash), whose value is the service's metadata string ("weight=10&group=a"),
// plus the marker keys <basePath> = "rpcx_path" and <basePath>/<service> = the service
// name. Entries are put with the Registrar's lease; markers have none.
//
// # Liveness
//
// Each Registrar grants one lease with a TTL of registry.WithTTL (default 30s, rounded up to
// whole seconds) and puts all its entries with it, so the entries of a server that crashes
// vanish when the lease expires. Every RefreshInterval it renews the lease once and checks,
// in one transaction, that every entry still holds its value under the lease, writing back
// any that does not. If the lease is gone (it expired while the server could not reach
// etcd, or someone revoked it) it grants a new one and writes every entry again. Closing
// the Registrar (the server's Shutdown) deletes the entries and revokes the lease.
//
// # Watching
//
// A Discovery watches the prefix <basePath>/<service>/ and lists it again after the watch
// is established and after every event, keeping only keys exactly one level below the
// prefix. The watch requires a leader (clientv3.WithRequireLeader), and every
// RefreshInterval a linearizable read checks that the cluster answers within Timeout: the
// etcd client silently retries a watch whose server went away, so this is how an
// unreachable cluster shows up in Err while the last list is kept. A broken watch (the
// cluster unreachable, no leader, or its revision compacted) is established again with
// backoff.
//
// # The client
//
// The caller owns the *clientv3.Client: it creates it (endpoints, TLS, auth, logger),
// passes it to any number of Registrars and Discoveries, and closes it after closing them.
// gRPC waits up to two minutes between attempts to reconnect to a server that went away;
// to be back soon after etcd is, cap that with grpc.WithConnectParams in
// clientv3.Config.DialOptions (the tests use a 500 ms maximum). Package embedded runs a
// single-node etcd in-process for tests and demos.
//
// # Example
//
//	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}})
//	if err != nil { ... }
//	defer cli.Close()
//
//	// Server side.
//	reg, err := etcd.NewRegistrar(cli, "tcp@10.0.0.5:8972", registry.WithBasePath("/rpcx_test"))
//	s := server.NewServer(server.WithRegistrar(reg))
//	_ = s.RegisterName("Arith", new(Arith), "weight=10")
//
//	// Client side.
//	d, err := etcd.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
//	defer d.Close()
//	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
package etcd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/registry"
)

// basePathValue is the value of the base path marker, as rpcx writes it.
const basePathValue = "rpcx_path"

// NewRegistrar returns a Registrar that advertises the server at address (network@host:port
// as clients dial it) in etcd through cli. Give it to server.WithRegistrar. The caller keeps
// owning cli and closes it after the Registrar.
func NewRegistrar(cli *clientv3.Client, address string, opts ...registry.Option) (*registry.Registrar, error) {
	if cli == nil {
		return nil, errors.New("etcd: NewRegistrar needs a client (*clientv3.Client from clientv3.New), got nil")
	}
	address, err := registry.CheckKeyAddress(address)
	if err != nil {
		return nil, err
	}
	settings := registry.NewSettings(opts...)
	if err := checkBasePath(settings.BasePath); err != nil {
		return nil, err
	}
	st := &store{
		cli:      cli,
		settings: settings,
		address:  address,
		ttl:      ttlSeconds(settings),
		entries:  make(map[string]string),
		deletes:  make(map[string]struct{}),
	}
	return registry.NewRegistrar(st, address, settings), nil
}

// NewDiscovery returns a Discovery of service's servers, listed and watched in etcd through
// cli. Close it before closing cli.
func NewDiscovery(cli *clientv3.Client, service string, opts ...registry.Option) (*registry.Discovery, error) {
	if cli == nil {
		return nil, errors.New("etcd: NewDiscovery needs a client (*clientv3.Client from clientv3.New), got nil")
	}
	if err := registry.CheckService(service); err != nil {
		return nil, err
	}
	settings := registry.NewSettings(opts...)
	if err := checkBasePath(settings.BasePath); err != nil {
		return nil, err
	}
	src := &source{
		cli:      cli,
		settings: settings,
		prefix:   registry.ServicePath(settings.BasePath, service) + "/",
	}
	return registry.NewDiscovery(src, settings), nil
}

// checkBasePath rejects base paths with empty elements: their keys would not be where rpcx
// processes look.
func checkBasePath(p string) error {
	if strings.Contains(p, "//") {
		return fmt.Errorf("etcd: invalid base path %q: empty element", p)
	}
	return nil
}

// ttlSeconds is the lease TTL: etcd counts whole seconds, so the TTL is rounded up.
func ttlSeconds(s registry.Settings) int64 {
	secs := int64((s.TTL + time.Second - 1) / time.Second)
	return max(secs, 1)
}
