// Package discovery tells a client which servers serve a service.
//
// # Model
//
// A registry holds one entry per (service, server). The entry's key ends in the server's
// address, written network@host:port ("tcp@10.0.0.5:8972", "quic@[::1]:8972",
// "unix@/run/app.sock"; no "@" means tcp), and its value is the metadata the server gave
// at registration, in URL-query form ("weight=10&group=a&group=b&state=inactive"). This is the
// layout rpcx uses, so brisk and rpcx clients and servers find each other.
//
// A [Server] is one such entry, parsed: [ParseAddress] splits the key into network and
// address, and [ParseMetadata] reads the keys a client interprets (weight, group, state,
// latitude, longitude); every other key stays available in [Metadata.Values] for custom
// selectors.
//
// # Discovery
//
// A [Discovery] gives the current list of servers and a watch. A watch always delivers the
// latest list: each watcher has a one-slot channel, and a new list replaces one the watcher
// has not read yet, so a slow reader skips intermediate lists but never misses the last one,
// and a registry never blocks on a client. Lists are sorted by key, hold each key once, and
// are the full list every time (never a delta).
//
// [Broadcaster] implements the list, the watches and Close in one place, and registries
// embed it. It also filters: by default it drops servers whose metadata says state=inactive
// (a server being drained), and [WithGroup] keeps only the servers of a group. Every
// discovery in brisk takes these [Option]s, so a client that uses a discovery built on a
// Broadcaster receives lists that are already filtered.
//
// # Static discoveries
//
//   - [NewPeer2Peer]: one fixed server.
//   - [NewMultipleServers]: a fixed list that [MultipleServers.Update] may replace.
//   - [NewDNS]: A/AAAA lookups of a name every interval.
//   - [NewCache]: a wrapper that keeps the last non-empty list while its source is
//     unavailable (see [HealthReporter]).
//
// Every discovery owns its goroutines and stops them in Close; nothing here logs, panics
// on misuse, or keeps process-global state.
package discovery
