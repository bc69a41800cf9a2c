// Package ipfilter lets a server accept or refuse callers by IP address, from allow and
// deny lists of addresses and CIDR prefixes (IPv4 and IPv6).
//
// The rules, in order:
//   - an address in the deny list is refused (deny wins over allow);
//   - else, if the allow list is empty, it is accepted;
//   - else it is accepted only if it is in the allow list.
//
// IPv4-mapped IPv6 addresses (::ffff:10.1.2.3) are treated as the IPv4 address they carry,
// in the lists and in the callers' addresses, so "10.0.0.0/8" matches a caller seen on a
// dual-stack socket as ::ffff:10.1.2.3. Zones (fe80::1%eth0) are ignored. An address that is
// not an IP (a Unix socket, a request made through Server.Invoke) is unknown: it is
// accepted only when the allow list is empty.
//
// Filter.ConnHooks refuses connections as they are accepted, before anything is read, so
// it guards the native protocol and the HTTP gateway on the same port alike. Filter.
// Middleware checks each request's Invocation.RemoteAddr instead, answering ErrDenied.
//
//	f, err := ipfilter.New([]string{"10.0.0.0/8", "127.0.0.1"}, []string{"10.9.0.0/16"})
//	if err != nil { ... }
//	s := server.NewServer(server.WithConnHooks(f.ConnHooks()))
//
// Update replaces the lists of a running filter.
package ipfilter
