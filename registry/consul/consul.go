// Package consul is brisk's Consul service registry: a server advertises its services as
// session-bound keys of Consul's KV store and clients list them with blocking queries, in
// exactly the layout rpcx's Consul plugin uses, so brisk and rpcx servers and clients find
// each other. Optionally a server is also registered in Consul's service catalog, so that
// Consul's UI, DNS and health queries see it (see [NewCatalogRegistrar]).
//
// # Layout
//
// Keys have no leading slash. One key per (service, server),
// <basePath>/<service>/<network@host:port> (for example rpcx_test/Arith/tcp@10.0.0.5:8972),
// holds the service's metadata string ("weight=10&group=a"); marker keys <basePath>
// ("rpcx_path") and <basePath>/<service> (the service name) are written as plain keys and
// outlive the servers. An address holding a '/' (unix@/run/app.sock) cannot be the last
// element of a key and is refused.
//
// # Liveness
//
// A Registrar creates one Consul session (behaviour "delete", the agent's default serfHealth
// check, a lock delay of 1ms since the keys are registrations, not locks) and writes its
// keys with ?acquire=<session>. The session's TTL is registry.WithTTL's, raised to Consul's
// minimum of 10s (and lowered to its maximum of 24h); Consul invalidates a session that was
// not renewed for up to twice its TTL, and then deletes its keys, so a crashed server
// disappears 10-20s after its last renewal with the minimum TTL. Every RefreshInterval the
// Registrar renews the session and checks that each of its keys is still there, held by
// the session, with the right value; it writes again what is missing and, when Consul says
// the session is gone (expired during a partition, destroyed by an operator, lost with the
// cluster's data), creates a new session and writes every key again. A key of the same
// address held by another session (a crashed process whose session has not expired yet)
// is deleted and acquired again. A clean Close deletes the keys at once and destroys the
// session.
//
// # Watching
//
// A Discovery lists <basePath>/<service>/ with Consul's blocking queries (?index=&wait=),
// waiting up to the session TTL (10s at least) per query, and lists the service again
// whenever the index changes. As Consul's documentation asks, it resets the index when it
// goes backwards, never blocks on index 0, and rate-limits the loop (a burst of 3 queries,
// then at most 10 per second) should the prefix churn. A failed query keeps the last list,
// reports the failure through Err and queries again with backoff.
//
// # The client
//
// The caller owns the *api.Client: it creates it (address, token, TLS, HTTP transport),
// passes it to any number of Registrars and Discoveries, and closes its transport's idle
// connections after closing them. Every request carries a context bounded by
// registry.WithTimeout (blocking queries: the wait plus that timeout).
//
// # Example
//
//	cli, err := api.NewClient(api.DefaultConfig()) // CONSUL_HTTP_ADDR or 127.0.0.1:8500
//	if err != nil { ... }
//
//	// Server side.
//	reg, err := consul.NewRegistrar(cli, "tcp@10.0.0.5:8972", registry.WithBasePath("/rpcx_test"))
//	s := server.NewServer(server.WithRegistrar(reg))
//	_ = s.RegisterName("Arith", new(Arith), "weight=10")
//
//	// Client side.
//	d, err := consul.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
//	defer d.Close()
//	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
package consul

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/registry"
)

const (
	// basePathData is the value of the base path marker key, as rpcx writes it.
	basePathData = "rpcx_path"
	// minSessionTTL and maxSessionTTL are the bounds Consul puts on a session's TTL.
	minSessionTTL = 10 * time.Second
	maxSessionTTL = 24 * time.Hour
	// lockDelay is the sessions' lock delay: Consul's smallest (its default, 15s, would keep
	// a server whose session was lost from writing its keys again for that long).
	lockDelay = time.Millisecond
)

// NewRegistrar returns a Registrar that advertises the server at address (network@host:port
// as clients dial it) in Consul's KV store through cli. Give it to server.WithRegistrar.
// The caller keeps owning cli.
func NewRegistrar(cli *api.Client, address string, opts ...registry.Option) (*registry.Registrar, error) {
	return newRegistrar("NewRegistrar", cli, address, false, opts)
}

// NewCatalogRegistrar is NewRegistrar that also registers every (service, server) in the
// service catalog of the Consul agent cli talks to, so that Consul's UI, DNS and health
// queries see the servers (rpcx's plugin does not do this; its clients ignore the catalog):
//
//   - an agent service with ID "<service>:<network@host:port>" ('/' replaced by '_'), name
//     the service name, the server's host and port, tags the metadata's group values, and
//     meta the metadata's keys (repeated values joined with ",", keys Consul refuses left
//     out) plus "network";
//   - a TTL check "service:<ID>" (TTL as the session's) that the Registrar passes every
//     RefreshInterval; the agent deregisters the service one minute after the check went
//     critical (the server stopped refreshing it);
//   - an inactive server (Registrar.SetInactive) is put in maintenance mode, which Consul
//     shows as a critical check and leaves out of DNS and passing-only health queries;
//   - the service is deregistered when the Registrar withdraws the service or closes.
//
// Agent services belong to that agent: use a client of the agent local to the server.
func NewCatalogRegistrar(cli *api.Client, address string, opts ...registry.Option) (*registry.Registrar, error) {
	return newRegistrar("NewCatalogRegistrar", cli, address, true, opts)
}

func newRegistrar(name string, cli *api.Client, address string, catalog bool, opts []registry.Option) (*registry.Registrar, error) {
	if cli == nil {
		return nil, fmt.Errorf("consul: %s needs a client (*api.Client from api.NewClient), got nil", name)
	}
	address, err := registry.CheckKeyAddress(address)
	if err != nil {
		return nil, err
	}
	settings := registry.NewSettings(opts...)
	if err := registry.CheckBasePath(settings.BasePath); err != nil {
		return nil, err
	}
	st := &store{
		cli:      cli,
		settings: settings,
		address:  address,
		ttl:      sessionTTL(settings.TTL),
	}
	if catalog {
		st.catalog = make(map[string]bool)
	}
	return registry.NewRegistrar(st, address, settings), nil
}

// NewDiscovery returns a Discovery of service's servers, listed with blocking queries on
// Consul's KV store through cli. Close it before dropping cli.
func NewDiscovery(cli *api.Client, service string, opts ...registry.Option) (*registry.Discovery, error) {
	if cli == nil {
		return nil, errors.New("consul: NewDiscovery needs a client (*api.Client from api.NewClient), got nil")
	}
	if err := registry.CheckService(service); err != nil {
		return nil, err
	}
	settings := registry.NewSettings(opts...)
	if err := registry.CheckBasePath(settings.BasePath); err != nil {
		return nil, err
	}
	src := &source{
		cli:      cli,
		settings: settings,
		prefix:   kvKey(registry.ServicePath(settings.BasePath, service)) + "/",
		wait:     sessionTTL(settings.TTL),
	}
	return registry.NewDiscovery(src, settings), nil
}

// kvKey turns a layout path into a Consul key: no leading slash.
func kvKey(p string) string { return strings.TrimPrefix(p, "/") }

// sessionTTL returns d within the bounds Consul accepts for a session TTL, in whole seconds.
func sessionTTL(d time.Duration) time.Duration {
	return min(max(d, minSessionTTL), maxSessionTTL).Round(time.Second)
}
