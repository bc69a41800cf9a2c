package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

func TestCORSPreflight(t *testing.T) {
	s, _ := newArithServer(t)
	policy := gateway.CORS{
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		AllowedHeaders: []string{"X-Trace"},
		ExposedHeaders: []string{"X-Extra"},
		MaxAge:         10 * time.Minute,
	}
	tests := []struct {
		name    string
		policy  gateway.CORS
		origin  string
		method  string
		headers string
		status  int
		acao    string
	}{
		{"allowed", policy, "https://app.example.com", "POST", "Content-Type, X-RPCX-ServiceMethod, x-jsonrpc-2.0, X-Trace", 204, "https://app.example.com"},
		{"origin case", policy, "HTTPS://APP.example.com", "PUT", "", 204, "HTTPS://APP.example.com"},
		{"wildcard origin", policy, "https://eu.example.org", "GET", "authorization", 204, "https://eu.example.org"},
		{"wildcard mismatch", policy, "https://example.org.evil.com", "POST", "", 403, ""},
		{"other origin", policy, "https://evil.com", "POST", "", 403, ""},
		{"method not allowed", policy, "https://app.example.com", "DELETE", "", 403, ""},
		{"header not allowed", policy, "https://app.example.com", "POST", "X-Secret", 403, ""},
		{"any origin", gateway.CORS{AllowedOrigins: []string{"*"}}, "https://x.test", "POST", "", 204, "*"},
		{"any origin with credentials", gateway.CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true}, "https://x.test", "POST", "", 204, "https://x.test"},
		{"any header", gateway.CORS{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}}, "https://x.test", "POST", "X-Whatever", 204, "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := serveGateway(t, s, gateway.WithCORS(tc.policy))
			h := map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": tc.method}
			if tc.headers != "" {
				h["Access-Control-Request-Headers"] = tc.headers
			}
			resp, body := do(t, hs, invokeReq{method: http.MethodOptions, path: "/Arith", headers: h})
			if resp.StatusCode != tc.status || len(body) != 0 {
				t.Fatalf("status %d, body %q; want %d", resp.StatusCode, body, tc.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.acao)
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q", resp.Header.Values("Vary"))
			}
			if tc.status != 204 {
				return
			}
			if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, tc.method) {
				t.Errorf("Access-Control-Allow-Methods %q", m)
			}
			if tc.headers != "" && resp.Header.Get("Access-Control-Allow-Headers") != tc.headers {
				t.Errorf("Access-Control-Allow-Headers %q", resp.Header.Get("Access-Control-Allow-Headers"))
			}
			if tc.policy.MaxAge > 0 && resp.Header.Get("Access-Control-Max-Age") != "600" {
				t.Errorf("Access-Control-Max-Age %q", resp.Header.Get("Access-Control-Max-Age"))
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); (got == "true") != tc.policy.AllowCredentials {
				t.Errorf("Access-Control-Allow-Credentials %q", got)
			}
		})
	}
}

// TestCORSActualRequest: an allowed origin's call carries Access-Control-Allow-Origin and
// exposes the X-RPCX-* response headers; another origin is served without CORS headers.
func TestCORSActualRequest(t *testing.T) {
	s, _ := newArithServer(t)
	hs := serveGateway(t, s, gateway.WithCORS(gateway.CORS{
		AllowedOrigins: []string{"https://app.example.com"}, ExposedHeaders: []string{"X-Extra"}, AllowCredentials: true,
	}))
	args := mustJSON(t, map[string]int{"A": 2, "B": 5})
	resp, body := do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Origin", "https://app.example.com"), body: args})
	if resp.StatusCode != 200 || string(body) != `{"C":10}` {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials %q", got)
	}
	exposed := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{gateway.HeaderMessageID, gateway.HeaderServicePath, gateway.HeaderServiceMethod, gateway.HeaderSerializeType,
		gateway.HeaderMeta, gateway.HeaderMessageStatusType, gateway.HeaderErrorMessage, "X-Extra"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
	// JSON-RPC too.
	resp, _ = postRPC(t, hs, `{"jsonrpc":"2.0","method":"Arith.Mul","params":{},"id":1}`, "Origin", "https://app.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("JSON-RPC answer without Access-Control-Allow-Origin: %v", resp.Header)
	}
	// Another origin: served, no CORS headers.
	resp, body = do(t, hs, invokeReq{headers: arithHeaders("Mul", protocol.JSON, "Origin", "https://evil.com"), body: args})
	if resp.StatusCode != 200 || string(body) != `{"C":10}` || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestOptionsWithoutCORS: OPTIONS is answered 204 with Allow and no CORS headers, so a
// browser's preflight fails without WithCORS.
func TestOptionsWithoutCORS(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodOptions, "/Arith", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	gateway.New(nil).ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Allow") == "" || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
}
