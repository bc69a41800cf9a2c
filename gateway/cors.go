package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CORS says which browser origins may call the gateway (WithCORS).
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed
// origin asking for an allowed method and allowed headers is answered 204 with
// Access-Control-Allow-Origin, -Methods, -Headers, -Credentials and -Max-Age; any other
// preflight gets 403 without CORS headers. An actual request from an allowed origin gets
// Access-Control-Allow-Origin, Access-Control-Expose-Headers and, with AllowCredentials,
// Access-Control-Allow-Credentials; one from another origin is still served, without CORS
// headers, so the browser keeps the answer from the page. Every answer varies on Origin.
type CORS struct {
	// AllowedOrigins lists the origins allowed, compared case-insensitively with the
	// Origin header ("https://app.example.com"). "*" allows any origin; an entry may hold
	// one "*" standing for any characters ("https://*.example.com").
	AllowedOrigins []string
	// AllowedMethods lists the methods allowed (default GET, POST and PUT).
	AllowedMethods []string
	// AllowedHeaders lists request headers allowed besides the ones always allowed:
	// Content-Type, Content-Encoding, Authorization, X-JSONRPC-2.0 and the X-RPCX-*
	// request headers. "*" allows any header.
	AllowedHeaders []string
	// ExposedHeaders lists response headers a page may read besides the X-RPCX-*
	// response headers, which are always exposed.
	ExposedHeaders []string
	// AllowCredentials lets requests carry cookies and HTTP authentication. The origin is
	// then echoed, never "*".
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer (whole seconds; 0 sends
	// no Access-Control-Max-Age).
	MaxAge time.Duration
}

// corsPolicy is a CORS prepared for matching.
type corsPolicy struct {
	anyOrigin   bool
	origins     map[string]bool
	wildcards   [][2]string // prefix, suffix
	methods     map[string]bool
	methodsList string
	anyHeader   bool
	headers     map[string]bool
	exposed     string
	credentials bool
	maxAge      string
}

var defaultAllowedHeaders = []string{
	"Content-Type", "Content-Encoding", "Authorization", HeaderJSONRPC,
	HeaderMessageID, HeaderHeartbeat, HeaderOneway, HeaderSerializeType, HeaderServicePath,
	HeaderServiceMethod, HeaderMeta, HeaderVersion,
}

var exposedHeaders = []string{
	HeaderMessageID, HeaderServicePath, HeaderServiceMethod, HeaderSerializeType, HeaderMeta,
	HeaderMessageStatusType, HeaderErrorMessage, HeaderVersion,
}

func newCORSPolicy(c CORS) *corsPolicy {
	p := &corsPolicy{
		origins:     map[string]bool{},
		methods:     map[string]bool{},
		headers:     map[string]bool{},
		credentials: c.AllowCredentials,
	}
	for _, o := range c.AllowedOrigins {
		o = strings.ToLower(strings.TrimSpace(o))
		switch i := strings.IndexByte(o, '*'); {
		case o == "*":
			p.anyOrigin = true
		case i >= 0:
			p.wildcards = append(p.wildcards, [2]string{o[:i], o[i+1:]})
		case o != "":
			p.origins[o] = true
		}
	}
	methods := c.AllowedMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodPost, http.MethodPut}
	}
	var ml []string
	for _, m := range methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m != "" && !p.methods[m] {
			p.methods[m] = true
			ml = append(ml, m)
		}
	}
	p.methodsList = strings.Join(ml, ", ")
	for _, h := range append(append([]string(nil), defaultAllowedHeaders...), c.AllowedHeaders...) {
		h = strings.TrimSpace(h)
		if h == "*" {
			p.anyHeader = true
		} else if h != "" {
			p.headers[http.CanonicalHeaderKey(h)] = true
		}
	}
	p.exposed = strings.Join(append(append([]string(nil), exposedHeaders...), c.ExposedHeaders...), ", ")
	if secs := int64(c.MaxAge / time.Second); secs > 0 {
		p.maxAge = strconv.FormatInt(secs, 10)
	}
	return p
}

func (p *corsPolicy) originAllowed(origin string) bool {
	if p.anyOrigin {
		return true
	}
	o := strings.ToLower(origin)
	if p.origins[o] {
		return true
	}
	for _, w := range p.wildcards {
		if len(o) >= len(w[0])+len(w[1]) && strings.HasPrefix(o, w[0]) && strings.HasSuffix(o, w[1]) {
			return true
		}
	}
	return false
}

// allowOrigin is the Access-Control-Allow-Origin value for an allowed origin.
func (p *corsPolicy) allowOrigin(origin string) string {
	if p.anyOrigin && !p.credentials {
		return "*"
	}
	return origin
}

// handle sets the CORS headers of r's answer and answers a preflight, reporting true
// when it did.
func (p *corsPolicy) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	wh := w.Header()
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	if !preflight {
		wh.Add("Vary", "Origin")
		if origin == "" || !p.originAllowed(origin) {
			return false
		}
		wh.Set("Access-Control-Allow-Origin", p.allowOrigin(origin))
		wh.Set("Access-Control-Expose-Headers", p.exposed)
		if p.credentials {
			wh.Set("Access-Control-Allow-Credentials", "true")
		}
		return false
	}
	wh.Add("Vary", "Origin")
	wh.Add("Vary", "Access-Control-Request-Method")
	wh.Add("Vary", "Access-Control-Request-Headers")
	method := strings.ToUpper(strings.TrimSpace(r.Header.Get("Access-Control-Request-Method")))
	if !p.originAllowed(origin) || !p.methods[method] {
		w.WriteHeader(http.StatusForbidden)
		return true
	}
	var requested []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				if !p.anyHeader && !p.headers[http.CanonicalHeaderKey(h)] {
					w.WriteHeader(http.StatusForbidden)
					return true
				}
				requested = append(requested, h)
			}
		}
	}
	wh.Set("Access-Control-Allow-Origin", p.allowOrigin(origin))
	wh.Set("Access-Control-Allow-Methods", p.methodsList)
	if len(requested) > 0 {
		wh.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	if p.credentials {
		wh.Set("Access-Control-Allow-Credentials", "true")
	}
	if p.maxAge != "" {
		wh.Set("Access-Control-Max-Age", p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
