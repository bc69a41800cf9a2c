// Package zookeeper is brisk's ZooKeeper service registry: a server advertises its services
// as ephemeral nodes, clients list and watch them, in exactly the layout rpcx's ZooKeeper
// plugin uses, so brisk and rpcx servers and clients find each other.
//
// # Layout
//
// Persistent nodes <basePath> (data "rpcx_path"; missing parents of a multi-level base
// path are created empty) and <basePath>/<service> (data: the service name), and one
// ephemeral node per server, <basePath>/<service>/<network@host:port>, whose data is the
// service's metadata string ("weight=10&group=a"). Nodes are created with the open ACL
// (world:anyone, all permissions), as rpcx does.
//
// # Liveness
//
// An entry lives as long as the ZooKeeper session of the connection that wrote it: a server
// that crashes disappears once its session expires, after the session timeout given to
// zk.Connect (which plays the part of the TTL here; registry.WithTTL is not used). Every
// RefreshInterval the Registrar checks that each of its nodes exists, holds the right data
// and belongs to the connection's current session, and writes it again if not (after the
// session expired and the client library opened a new one, for example).
//
// # Watching
//
// A Discovery watches the children of the service node (or, while that node does not exist
// yet, its creation) and the data of every child, and lists the service again whenever one
// fires. When the connection to ZooKeeper is lost, which it notices within a second (or
// within RefreshInterval if shorter), or the session expires, it keeps its last list,
// reports the failure through Err and watches again with backoff.
//
// # The connection
//
// The caller owns the *zk.Conn: it creates it (and chooses its session timeout and logger;
// go-zookeeper logs to the standard logger unless given zk.WithLogger), passes it to any
// number of Registrars and Discoveries, and closes it after closing them. Closing the
// connection ends its session, so ZooKeeper deletes its entries at once.
//
// # Example
//
//	conn, _, err := zk.Connect([]string{"127.0.0.1:2181"}, 10*time.Second)
//	if err != nil { ... }
//	defer conn.Close()
//
//	// Server side.
//	reg, err := zookeeper.NewRegistrar(conn, "tcp@10.0.0.5:8972", registry.WithBasePath("/rpcx_test"))
//	s := server.NewServer(server.WithRegistrar(reg))
//	_ = s.RegisterName("Arith", new(Arith), "weight=10")
//
//	// Client side.
//	d, err := zookeeper.NewDiscovery(conn, "Arith", registry.WithBasePath("/rpcx_test"))
//	defer d.Close()
//	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/registry"
)

// basePathData is the data of the base path node, as rpcx writes it.
const basePathData = "rpcx_path"

// NewRegistrar returns a Registrar that advertises the server at address (network@host:port
// as clients dial it) in ZooKeeper through conn. Give it to server.WithRegistrar. The
// caller keeps owning conn and closes it after the Registrar.
func NewRegistrar(conn *zk.Conn, address string, opts ...registry.Option) (*registry.Registrar, error) {
	if conn == nil {
		return nil, errors.New("zookeeper: NewRegistrar needs a connection (*zk.Conn from zk.Connect), got nil")
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
		conn:     conn,
		settings: settings,
		address:  address,
		sem:      make(chan struct{}, 1),
	}
	return registry.NewRegistrar(st, address, settings), nil
}

// NewDiscovery returns a Discovery of service's servers, listed and watched in ZooKeeper
// through conn. Close it before closing conn.
func NewDiscovery(conn *zk.Conn, service string, opts ...registry.Option) (*registry.Discovery, error) {
	if conn == nil {
		return nil, errors.New("zookeeper: NewDiscovery needs a connection (*zk.Conn from zk.Connect), got nil")
	}
	if err := registry.CheckService(service); err != nil {
		return nil, err
	}
	settings := registry.NewSettings(opts...)
	if err := checkBasePath(settings.BasePath); err != nil {
		return nil, err
	}
	src := &source{
		conn:     conn,
		settings: settings,
		path:     registry.ServicePath(settings.BasePath, service),
	}
	return registry.NewDiscovery(src, settings), nil
}

// checkBasePath rejects base paths ZooKeeper would refuse, with a clearer message than its
// "invalid path".
func checkBasePath(p string) error {
	if err := registry.CheckBasePath(p); err != nil {
		return err
	}
	if p == "/zookeeper" || strings.HasPrefix(p, "/zookeeper/") {
		return fmt.Errorf("zookeeper: invalid base path %q: /zookeeper is reserved", p)
	}
	return nil
}

// await runs f and returns its result, or ctx's error if ctx ends first. go-zookeeper's
// calls take no context; one that is abandoned finishes in the background (the client
// fails queued requests within about a second while disconnected, and all of them when
// the connection is closed).
func await[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("zookeeper: %w", err)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("zookeeper: %w", ctx.Err())
	}
}
