// Package dashboard is a live web dashboard for a brisk server, as an http.Handler to mount
// on an admin port: the server's services and methods, calls per second, error rate and
// latency percentiles per method, the connected clients, the registry's view of each
// service, and a form that calls a method with JSON arguments.
//
// The figures come from a Stats, which the server feeds through a middleware and
// connection hooks:
//
//	st := dashboard.NewStats()
//	s := server.NewServer(server.WithMiddleware(st.Middleware()), server.WithConnHooks(st.ConnHooks()))
//	// register services, serve s ...
//	admin := http.NewServeMux()
//	admin.Handle("/debug/brisk/", http.StripPrefix("/debug/brisk", dashboard.New(s, st)))
//	go http.ListenAndServe("127.0.0.1:9090", admin)
//
// The page is rendered on the server with html/template, with a small embedded script
// that polls the JSON endpoints (no build step, no external resources). Methods and their
// argument schemas come from the server's reflection service (_brisk.Reflection) when it
// has one, and otherwise only the service names are known.
//
// The dashboard has no access control of its own and its form can call any method: serve
// it on a listener only operators reach (loopback, an admin network) or wrap it in your
// own authentication; WithoutCalls makes it read-only.
package dashboard
