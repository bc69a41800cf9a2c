// Package registry is the part of brisk's service registries that does not depend on the
// backend: the server-side Registrar and the client-side Discovery. Each backend package
// (registry/etcd, registry/zookeeper, registry/redis, registry/consul, registry/mdns) only
// implements a Store (how to write, keep alive and delete one entry) and a Source (how to
// list and watch one service), and returns the types of this package.
//
// # Layout
//
// Every backend uses rpcx's layout, so brisk and rpcx servers and clients find each other:
// one entry per (service, server) under <basePath>/<service>/<network@host:port>, whose value
// is the service's metadata string in URL-query form ("weight=10&group=a"). A server being
// drained adds "state=inactive" and clients stop choosing it. See [Key].
//
// # Server side
//
// A [Registrar] is a server.Registrar: give it to server.WithRegistrar and every service the
// server registers is advertised, kept alive (lease, session or TTL, refreshed every
// RefreshInterval) and withdrawn when the server shuts down. A write that fails, because the
// registry is unreachable or lost the entry, is retried at every refresh until it succeeds.
// [Registrar.SetInactive] marks every entry inactive before a drain.
//
// # Client side
//
// A [Discovery] is a discovery.Discovery. It starts with an empty list when no server is
// registered yet, re-lists the service whenever its watch fires, keeps the last known list
// while the registry is unreachable (reporting why through Err), and re-establishes a broken
// watch with exponential backoff. Watchers always receive the latest list after any burst
// of changes.
package registry
