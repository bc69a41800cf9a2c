// Package auth checks a request's auth token (the __AUTH metadata, which a client sets with
// client.Option.AuthToken) per service and per method, as a server.Middleware.
//
// Rules say which check applies where; the most specific rule that matches a request wins
// (service and method, then service, then method, then the catch-all), and a request that
// no rule matches is refused. A refused request gets an error whose text starts with
// TextUnauthorized ("brisk: unauthorized"); its method never runs, and the connection stays
// open. Clients recognise it with IsUnauthorized.
//
//	mw := auth.Middleware(
//		auth.Rule{Service: "Arith", Check: auth.Tokens("user-token", "admin-token")},
//		auth.Rule{Service: "Arith", Method: "Reset", Check: auth.Tokens("admin-token")},
//		auth.Rule{Service: "Health", Check: auth.Public},
//	)
//	s := server.NewServer(server.WithMiddleware(mw))
//
// # With server.WithAuthFunc
//
// server.WithAuthFunc runs before any middleware and closes the connection of a request it
// refuses: it suits a coarse check that a caller who fails is not worth talking to (any
// valid token at all). The middleware runs after it, leaves the connection open, and suits
// the per-method decisions. The two combine: a request must pass both. Rules.AuthFunc
// gives the same rules as an AuthFunc, for those who want refusals to close connections.
package auth
