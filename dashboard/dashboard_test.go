package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/dashboard"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// hostile is markup that must reach the page only as text.
const hostile = `<script>alert("x")</script>`

// fixture is a served Arith with Stats and the dashboard on an httptest server.
type fixture struct {
	s    *server.Server
	st   *dashboard.Stats
	addr string // the brisk server's
	url  string // the dashboard's
}

func newFixture(t *testing.T, opts ...dashboard.Option) *fixture {
	t.Helper()
	st := dashboard.NewStats()
	s, _, addr := newServer(t, st, "group=a&note="+hostile)
	reg, err := discovery.NewMultipleServers([]discovery.KVPair{
		{Key: "tcp@" + addr, Value: "weight=5&group=a"},
		{Key: "tcp@10.0.0.9:8972", Value: `state=inactive&group=<img src=x onerror=alert(1)>&x="><b>`},
	}, discovery.WithInactive())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	opts = append([]dashboard.Option{dashboard.WithDiscoveries(map[string]discovery.Discovery{"Arith": reg})}, opts...)
	hs := httptest.NewServer(dashboard.New(s, st, opts...))
	t.Cleanup(hs.Close)
	return &fixture{s: s, st: st, addr: addr, url: hs.URL}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s %s: %s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

func TestJSONEndpoints(t *testing.T) {
	f := newFixture(t)
	c := testsvc.Connect(t, f.addr, client.DefaultOption)
	for i := 0; i < 5; i++ {
		if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &testsvc.Reply{}); err != nil {
			t.Fatal(err)
		}
	}

	var snap dashboard.Snapshot
	getJSON(t, f.url+"/api/stats", &snap)
	if m, ok := methodStats(snap, "Arith", "Mul"); !ok || m.Calls != 5 {
		t.Errorf("api/stats Arith.Mul: %+v", snap.Methods)
	}
	if snap.WindowSeconds != 10 || !snap.ClientsTracked || len(snap.Clients) != 1 || snap.Clients[0].Calls != 5 {
		t.Errorf("api/stats: %+v", snap)
	}
	// The raw shape: the keys a script reads.
	var raw map[string]any
	getJSON(t, f.url+"/api/stats", &raw)
	for _, k := range []string{"time", "window_seconds", "totals", "methods", "clients", "clients_tracked"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("api/stats lacks %q: %v", k, raw)
		}
	}
	m0 := raw["methods"].([]any)[0].(map[string]any)
	for _, k := range []string{"service", "method", "calls", "errors", "rate", "error_rate", "p50_ms", "p90_ms", "p99_ms", "in_flight"} {
		if _, ok := m0[k]; !ok {
			t.Errorf("api/stats method lacks %q: %v", k, m0)
		}
	}

	var svcs dashboard.ServicesReply
	getJSON(t, f.url+"/api/services", &svcs)
	if len(svcs.Services) != 1 || svcs.Services[0].Name != "Arith" || svcs.Services[0].Metadata != "group=a&note="+hostile {
		t.Errorf("api/services: %+v", svcs)
	}
	if len(svcs.Addresses) != 1 || svcs.Addresses[0] != "tcp@"+f.addr {
		t.Errorf("api/services addresses %v, want tcp@%s", svcs.Addresses, f.addr)
	}
	if svcs.Source != dashboard.SourceReflection || svcs.Note != "" {
		t.Errorf("api/services source %q (%s), want the reflection service", svcs.Source, svcs.Note)
	}
	var mul *dashboard.MethodInfo
	for i, m := range svcs.Services[0].Methods {
		if m.Name == "Mul" {
			mul = &svcs.Services[0].Methods[i]
		}
	}
	if mul == nil || mul.Kind != "unary" || !strings.Contains(string(mul.Args), `"A"`) || !strings.Contains(string(mul.Reply), `"C"`) {
		t.Errorf("api/services Arith.Mul: %+v", mul)
	}

	var reg dashboard.RegistryReply
	getJSON(t, f.url+"/api/registry", &reg)
	if !reg.Configured || len(reg.Services) != 1 || !reg.Services[0].Known || len(reg.Services[0].Servers) != 2 {
		t.Fatalf("api/registry: %+v", reg)
	}
	self, other := reg.Services[0].Servers[1], reg.Services[0].Servers[0] // sorted by key: 10.0.0.9 < 127.0.0.1
	if self.Key != "tcp@"+f.addr || !self.Self || self.State != "active" || self.Weight != 5 || len(self.Groups) != 1 {
		t.Errorf("this server in the registry: %+v", self)
	}
	if other.Self || other.State != "inactive" || other.Address != "10.0.0.9:8972" {
		t.Errorf("the other server in the registry: %+v", other)
	}

	// Without WithDiscovery the registry view is empty and says so.
	plain := httptest.NewServer(dashboard.New(f.s, nil))
	defer plain.Close()
	reg = dashboard.RegistryReply{}
	getJSON(t, plain.URL+"/api/registry", &reg)
	if reg.Configured || len(reg.Services) != 0 {
		t.Errorf("api/registry without discovery: %+v", reg)
	}
	// Without Stats, the clients still come from the server.
	snap = dashboard.Snapshot{}
	getJSON(t, plain.URL+"/api/stats", &snap)
	if len(snap.Methods) != 0 || len(snap.Clients) != 1 || snap.ClientsTracked {
		t.Errorf("api/stats without Stats: %+v", snap)
	}
}

func TestPageEscapesAndServesAssets(t *testing.T) {
	f := newFixture(t)
	c := testsvc.Connect(t, f.addr, client.DefaultOption)
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &testsvc.Reply{}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, f.url+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, bad := range []string{hostile, "<img src=x", `"><b>`} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
		"tcp@" + f.addr, "this server", `src="static/app.js"`, `href="static/style.css"`, `id="call-form"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for path, ctype := range map[string]string{"/static/app.js": "text/javascript", "/static/style.css": "text/css"} {
		resp, body := get(t, f.url+path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: %s %s, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if resp, body := get(t, f.url+"/nothing-here"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"kind":"not_found"`) {
		t.Errorf("unknown path: %s %s", resp.Status, body)
	}
	// Read-only: no form.
	ro := httptest.NewServer(dashboard.New(f.s, f.st, dashboard.WithoutCalls()))
	defer ro.Close()
	if _, body := get(t, ro.URL+"/"); strings.Contains(body, `id="call-form"`) {
		t.Error("WithoutCalls: the page still has the call form")
	}
}

func TestMountUnderPrefix(t *testing.T) {
	st := dashboard.NewStats()
	s, _, _ := newServer(t, st, "")
	mux := http.NewServeMux()
	mux.Handle("/debug/brisk/", http.StripPrefix("/debug/brisk", dashboard.New(s, st)))
	mux.Handle("/admin/", http.StripPrefix("/admin/", dashboard.New(s, st)))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	for _, base := range []string{"/debug/brisk", "/admin"} {
		resp, body := get(t, hs.URL+base) // redirected to base + "/"
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != base+"/" || !strings.Contains(body, `src="static/app.js"`) {
			t.Errorf("%s: %s at %s", base, resp.Status, resp.Request.URL.Path)
		}
		for _, p := range []string{"/api/stats", "/api/services", "/static/app.js"} {
			if resp, _ := get(t, hs.URL+base+p); resp.StatusCode != http.StatusOK {
				t.Errorf("%s%s: %s", base, p, resp.Status)
			}
		}
	}
}

func TestCallEndpoint(t *testing.T) {
	f := newFixture(t, dashboard.WithMaxBodySize(256))
	tests := []struct {
		name        string
		method      string // HTTP
		contentType string
		header      [2]string
		body        string
		status      int
		want        string // in the answer
	}{
		{"success", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul","args":{"A":6,"B":7}}`, 200, `"reply":{"C":42}`},
		{"charset and metadata", "POST", "application/json; charset=utf-8", [2]string{}, `{"method":"Arith.EchoMetadata","args":{},"metadata":{"k":"v"}}`, 200, `"reply":{"k":"v"}`},
		{"no args", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul"}`, 200, `"reply":{"C":0}`},
		{"same-origin", "POST", "application/json", [2]string{"Sec-Fetch-Site", "same-origin"}, `{"method":"Arith.Mul","args":{"A":1,"B":1}}`, 200, `"reply":{"C":1}`},
		{"service error", "POST", "application/json", [2]string{}, `{"method":"Arith.Div","args":{"A":1,"B":0}}`, 500, `"error":"divide by zero","kind":"service"`},
		{"unknown method", "POST", "application/json", [2]string{}, `{"method":"Arith.Nope","args":{}}`, 404, `"kind":"not_found"`},
		{"unknown service", "POST", "application/json", [2]string{}, `{"method":"Nope.Mul","args":{}}`, 404, `can't find service Nope`},
		{"bad args", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul","args":{"A":"six"}}`, 400, `bad arguments`},
		{"bad JSON", "POST", "application/json", [2]string{}, `{"method":`, 400, `"kind":"bad_request"`},
		{"not an object", "POST", "application/json", [2]string{}, `[1,2]`, 400, `bad call request`},
		{"unknown field", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul","argz":{}}`, 400, `unknown field`},
		{"trailing data", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul"} {}`, 400, `more than one JSON value`},
		{"no dot", "POST", "application/json", [2]string{}, `{"method":"ArithMul"}`, 400, `must be \"Service.Method\"`},
		{"empty method", "POST", "application/json", [2]string{}, `{"method":"Arith."}`, 400, `must be \"Service.Method\"`},
		{"built-in", "POST", "application/json", [2]string{}, `{"method":"_brisk.Push.Subscribe","args":"t"}`, 400, `built-in`},
		{"oversized", "POST", "application/json", [2]string{}, `{"method":"Arith.Mul","args":{"A":` + strings.Repeat("1", 300) + `}}`, 413, `larger than 256 bytes`},
		{"not JSON", "POST", "text/plain", [2]string{}, `{"method":"Arith.Mul"}`, 415, `application/json`},
		{"form post", "POST", "application/x-www-form-urlencoded", [2]string{}, `method=Arith.Mul`, 415, `application/json`},
		{"cross-site", "POST", "application/json", [2]string{"Sec-Fetch-Site", "cross-site"}, `{"method":"Arith.Mul"}`, 403, `cross-site`},
		{"GET", "GET", "", [2]string{}, ``, 405, `use POST`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, f.url+"/api/call", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s %s: %s %s, want %d with %s", tt.method, tt.body, resp.Status, body, tt.status, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if !json.Valid(body) {
				t.Errorf("the answer is not JSON: %s", body)
			}
		})
	}
	// The dashboard's calls went through the server's middleware: they are counted (the
	// bad arguments as an error).
	if m, _ := methodStats(f.st.Snapshot(), "Arith", "Mul"); m.Calls != 4 || m.Errors != 1 {
		t.Errorf("Arith.Mul counted %d calls and %d errors from the form, want 4 and 1", m.Calls, m.Errors)
	}

	ro := httptest.NewServer(dashboard.New(f.s, f.st, dashboard.WithoutCalls()))
	defer ro.Close()
	resp, err := http.Post(ro.URL+"/api/call", "application/json", strings.NewReader(`{"method":"Arith.Mul"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("WithoutCalls: %s, want 403", resp.Status)
	}
}

func TestCallNeedsAuthToken(t *testing.T) {
	auth := func(ctx context.Context, req *protocol.Message, token string) error {
		if token != "s3cret" {
			return errors.New("bad token")
		}
		return nil
	}
	s := server.NewServer(server.WithAuthFunc(auth))
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	call := func(h http.Handler, body string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/call", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	const mul = `{"method":"Arith.Mul","args":{"A":2,"B":2}}`
	if code, body := call(dashboard.New(s, nil), mul); code != http.StatusUnauthorized || !strings.Contains(body, "bad token") {
		t.Errorf("without a token: %d %s", code, body)
	}
	if code, body := call(dashboard.New(s, nil, dashboard.WithAuthToken("s3cret")), mul); code != http.StatusOK || !strings.Contains(body, `{"C":4}`) {
		t.Errorf("WithAuthToken: %d %s", code, body)
	}
	if code, body := call(dashboard.New(s, nil), `{"method":"Arith.Mul","metadata":{"__AUTH":"s3cret"}}`); code != http.StatusOK {
		t.Errorf("token in the metadata: %d %s", code, body)
	}

	// The reflection service needs the token too: without it the dashboard falls back to
	// the service names, and says why.
	services := func(h http.Handler) dashboard.ServicesReply {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/services", nil))
		var out dashboard.ServicesReply
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("api/services: %d %v %s", rec.Code, err, rec.Body.String())
		}
		return out
	}
	got := services(dashboard.New(s, nil))
	if got.Source != dashboard.SourceServer || !strings.Contains(got.Note, "bad token") ||
		len(got.Services) != 1 || got.Services[0].Name != "Arith" || len(got.Services[0].Methods) != 0 {
		t.Errorf("api/services without the token: %+v", got)
	}
	if got = services(dashboard.New(s, nil, dashboard.WithAuthToken("s3cret"))); got.Source != dashboard.SourceReflection ||
		len(got.Services) != 1 || len(got.Services[0].Methods) == 0 {
		t.Errorf("api/services with the token: %+v", got)
	}
}

func TestNilServer(t *testing.T) {
	rec := httptest.NewRecorder()
	dashboard.New(nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "no server") {
		t.Errorf("nil server: %d %s", rec.Code, rec.Body.String())
	}
}
