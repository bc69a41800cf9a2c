// Package mdns is brisk's service registry for local networks without a registry server:
// every server announces itself with multicast DNS (DNS-SD) and clients browse for it, in
// the layout rpcx's mDNS plugins use, so brisk and rpcx servers and clients find each other.
//
//	lo, _ := net.InterfaceByName("eth0")
//	r, err := mdns.NewRegistrar("tcp@192.168.1.5:8972", mdns.WithInterfaces(*lo))
//	s := server.NewServer(server.WithRegistrar(r))
//	s.RegisterName("Arith", new(Arith), "weight=10")
//
//	d, err := mdns.NewDiscovery("Arith", mdns.WithInterfaces(*lo))
//	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
//
// # Layout
//
// A server process announces one instance of the service type "_rpcxservices" (one label,
// as rpcx registers it) in domain "local.", on the port of its address. Its TXT record holds
// the URL-query-escaped JSON array of all its services:
//
//	[{"service":"Arith","meta":"weight=10","service_address":"tcp@192.168.1.5:8972"}, ...]
//
// with empty fields left out, as rpcx's encoder does; the decoder also accepts the untagged
// names of older rpcx releases ("Service", "Meta", "ServiceAddress") and skips malformed
// elements and records. A DNS character-string holds 255 bytes, so a longer value is split
// over several strings of the one TXT record, which brisk joins; rpcx reads only the first
// string, so rpcx clients see such a server only while its value fits in one (rpcx's own
// servers cannot announce a longer value at all). The whole value is limited to 8000 bytes.
//
// rpcx names the instance after the host name, so two rpcx servers on one machine announce
// the same instance and clients see one of them. brisk names it <hostname>-<host>-<port>
// (other characters than letters, digits and '-' become '-'), one instance per server
// address; clients do not interpret the name. The SRV target is that name in the domain, and
// the A/AAAA records carry the address's IP (or, for a host name or a wildcard address, the
// addresses of the interfaces used).
//
// # Behaviour
//
// Registering a service, withdrawing it or marking the server inactive re-announces the
// instance with the new TXT record: the responder is shut down (multicasting goodbye records)
// and started again, because the library's SetText is not safe while it answers queries.
// Close withdraws the instance with goodbye records. Records carry Settings.TTL (rounded up
// to seconds). Settings.BasePath does not apply to mDNS, nor Settings.Timeout (no call waits
// on a remote registry).
//
// A Discovery browses continuously in rounds of Settings.RefreshInterval (a new round
// re-queries, which also picks up changed TXT records) and lists the servers heard from
// within the last Settings.TTL, so a crashed server leaves the list within TTL (+ a quarter
// of RefreshInterval). The library's browser drops goodbye records without reporting them,
// so the Discovery also listens for them itself: a server that says goodbye is queried at
// once and leaves the list one second later (RFC 6762 section 10.1) unless it answers, as a
// server re-announcing new metadata does, so clients see an update rather than a gap. While
// no interface is usable (down, or not multicast-capable) browsing stops, Err says why and
// the last list is kept; browsing resumes with backoff, giving every known server a fresh
// TTL to answer.
//
// # Library
//
// The zeroconf libraries considered were github.com/libp2p/zeroconf/v2,
// github.com/enbility/zeroconf, github.com/grandcat/zeroconf and github.com/betamos/zeroconf.
// betamos/zeroconf is the most modern (slog logger, goodbye and update events) but accepts
// only two-label service types ("_name._tcp"), so it can neither announce nor browse rpcx's
// "_rpcxservices". enbility/zeroconf could not be fetched in the environment brisk is built
// in. grandcat/zeroconf, which rpcx uses, is unmaintained; libp2p/zeroconf/v2 is the fork the
// go-libp2p project maintains and uses (its latest release, v2.2.0, is from 2022): it speaks exactly rpcx's wire behaviour, selects
// interfaces for announcing and browsing, sends goodbyes and builds with Go 1.26. Its one
// flaw for a library is that it writes a few messages with the standard log package, which
// cannot be silenced without changing the process's global logger (brisk does not): on
// Linux the only one that can occur is "no suitable IPv4/IPv6 interface", once per
// (re-)announcement on a host where only one of the two can join the mDNS group on the
// chosen interfaces; a message that cannot be packed (another logged case) cannot happen
// with the size limit above, and the rest concern platforms other than Linux, Darwin and
// iOS. brisk itself logs only through Settings.Logger.
//
// # Tests
//
// Run as root on Linux, the tests re-run themselves in a new network namespace whose
// loopback interface they bring up with multicast, and use only that interface; elsewhere
// they run only if the loopback interface is multicast-capable (and skip otherwise, or fail
// under BRISK_REQUIRE_SERVICES=1).
package mdns
