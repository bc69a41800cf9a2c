// Package ratelimit refuses requests over a rate, with token buckets
// (golang.org/x/time/rate) for the whole server, per service, per method and per client
// address, as a server.Middleware.
//
// A request takes one token from every bucket that applies to it: the caller's (by IP,
// whatever its port), its method's, its service's and the server's. If any of them is
// empty, it takes none, and the request is refused with an error wrapping
// server.ErrRateLimited before its method runs; clients see it as refused
// (client.IsRefused), and an XClient with Failover or Failtry tries another server. By
// default a refusal is immediate; Wait lets a request wait up to a bound (and never past
// its deadline) for its tokens instead.
//
// Client buckets live in a map of at most MaxClients entries (PerClient's maxClients);
// when it is full, the bucket used least recently is dropped, so the map never grows past
// it. A dropped client that comes back starts with a full bucket. Requests with no IP
// (Server.Invoke, the HTTP gateway, Unix sockets) share one client bucket.
//
//	rl := ratelimit.New(
//		ratelimit.Server(10000, 1000),
//		ratelimit.Method("Arith", "Mul", 100, 10),
//		ratelimit.PerClient(50, 20, 10000),
//	)
//	s := server.NewServer(server.WithMiddleware(rl.Middleware()))
//
// Rates are tokens per second (rate.Limit; rate.Every(d) for one per d); a bucket holds at
// most burst tokens and starts full. A rate of rate.Inf means no limit.
package ratelimit
