package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/brisk-rpc/brisk/dashboard"
	"github.com/brisk-rpc/brisk/server"
)

type Calc struct{}

type Pair struct{ A, B int }

type Product struct{ C int }

func (Calc) Mul(ctx context.Context, args *Pair, reply *Product) error {
	reply.C = args.A * args.B
	return nil
}

// A server with the stats collector installed, and its dashboard under /debug/brisk/ of an
// admin mux (serve the mux with http.ListenAndServe on an admin address). Here one call is
// made through the dashboard's call endpoint, as its form does.
func Example() {
	st := dashboard.NewStats()
	s := server.NewServer(server.WithMiddleware(st.Middleware()), server.WithConnHooks(st.ConnHooks()))
	if err := s.RegisterName("Calc", Calc{}, ""); err != nil {
		panic(err)
	}
	admin := http.NewServeMux()
	admin.Handle("/debug/brisk/", http.StripPrefix("/debug/brisk", dashboard.New(s, st)))

	req := httptest.NewRequest("POST", "/debug/brisk/api/call", strings.NewReader(`{"method":"Calc.Mul","args":{"A":6,"B":7}}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, req)
	var reply dashboard.CallReply
	_ = json.Unmarshal(rec.Body.Bytes(), &reply)
	fmt.Println(rec.Code, string(reply.Reply))

	m := st.Snapshot().Methods[0]
	fmt.Println(m.Service, m.Method, m.Calls, m.Errors)
	// Output:
	// 200 {"C":42}
	// Calc Mul 1 0
}
