package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/server"
)

// Defaults of the Options.
const (
	DefaultMaxBodySize = 1 << 20
	DefaultCallTimeout = 10 * time.Second
)

// Option configures the dashboard's handler.
type Option func(*handler)

// WithDiscovery shows the registry's view of each service: lookup returns the Discovery of
// a service (nil for none) and is called for every service each time the page or
// /api/registry is loaded, so it must be cheap: build the discoveries once and look them
// up (they stay the caller's to close). The dashboard only calls their Servers method.
func WithDiscovery(lookup func(service string) discovery.Discovery) Option {
	return func(h *handler) { h.discovery = lookup }
}

// WithDiscoveries is WithDiscovery over a map from service name to its Discovery.
func WithDiscoveries(m map[string]discovery.Discovery) Option {
	return WithDiscovery(func(service string) discovery.Discovery { return m[service] })
}

// WithMaxBodySize limits the body of a call request (default DefaultMaxBodySize bytes);
// a larger one is answered 413.
func WithMaxBodySize(n int64) Option {
	return func(h *handler) { h.maxBody = max(n, 1) }
}

// WithCallTimeout bounds a call made from the dashboard (default DefaultCallTimeout).
func WithCallTimeout(d time.Duration) Option {
	return func(h *handler) {
		if d > 0 {
			h.callTimeout = d
		}
	}
}

// WithAuthToken sends token as the auth token (the __AUTH metadata) of the dashboard's own
// calls: the reflection listing, and calls from the form that do not give one. Use it when
// the server has an AuthFunc.
func WithAuthToken(token string) Option {
	return func(h *handler) { h.authToken = token }
}

// WithoutCalls removes the call form and answers /api/call with 403: the dashboard is
// then read-only.
func WithoutCalls() Option {
	return func(h *handler) { h.noCalls = true }
}

// WithTitle sets the page's title (default "brisk dashboard").
func WithTitle(title string) Option {
	return func(h *handler) { h.title = title }
}

//go:embed assets
var assets embed.FS

// pageTemplate is parsed once; it holds no state.
var pageTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

// handler is the dashboard.
type handler struct {
	s           *server.Server
	st          *Stats
	discovery   func(string) discovery.Discovery
	maxBody     int64
	callTimeout time.Duration
	authToken   string
	noCalls     bool
	title       string
}

// New returns the dashboard of s as an http.Handler; st, if not nil, is the Stats
// installed in s (see NewStats), which gives the live figures. Mount it on an admin
// listener, at the root or under a prefix with http.StripPrefix (its links are relative):
//
//	mux.Handle("/debug/brisk/", http.StripPrefix("/debug/brisk", dashboard.New(s, st)))
//
// It serves:
//
//	GET  ./                the page
//	GET  ./api/stats       Stats.Snapshot as JSON
//	GET  ./api/services    services and methods (with JSON Schemas when the server has reflection)
//	GET  ./api/registry    each service's servers as its registry lists them (WithDiscovery)
//	POST ./api/call        {"method":"Service.Method","args":{...},"metadata":{...}} → {"reply":...}
//	GET  ./static/...      the page's script and style sheet
//
// Everything but /api/call only reads. The dashboard has no access control of its own:
// serve it on a port only operators reach, or wrap it in your own auth.
func New(s *server.Server, st *Stats, opts ...Option) http.Handler {
	h := &handler{s: s, st: st, maxBody: DefaultMaxBodySize, callTimeout: DefaultCallTimeout, title: "brisk dashboard"}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if h.s == nil {
		writeError(w, http.StatusInternalServerError, "internal", "dashboard: no server given to dashboard.New")
		return
	}
	p := r.URL.Path
	if p == "" || p == "/" {
		// The page's links are relative: served at ".../prefix" (no slash) they would
		// resolve against the parent, so send the browser to ".../prefix/".
		orig := r.URL.Path
		if r.RequestURI != "" {
			orig, _, _ = strings.Cut(r.RequestURI, "?")
		}
		if !strings.HasSuffix(orig, "/") {
			http.Redirect(w, r, path.Base(orig)+"/", http.StatusMovedPermanently)
			return
		}
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // http.StripPrefix with a trailing slash leaves none
	}
	switch p {
	case "/", "/index.html":
		if allow(w, r, http.MethodGet) {
			h.page(w, r)
		}
	case "/api/stats":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, h.stats())
		}
	case "/api/services":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, h.services(r.Context()))
		}
	case "/api/registry":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, h.registry())
		}
	case "/api/call":
		if allow(w, r, http.MethodPost) {
			h.call(w, r)
		}
	case "/static/app.js":
		if allow(w, r, http.MethodGet) {
			serveAsset(w, "assets/app.js", "text/javascript; charset=utf-8")
		}
	case "/static/style.css":
		if allow(w, r, http.MethodGet) {
			serveAsset(w, "assets/style.css", "text/css; charset=utf-8")
		}
	default:
		writeError(w, http.StatusNotFound, "not_found", "dashboard: no such page: "+p)
	}
}

// allow answers 405 unless r's method is method (or HEAD for GET).
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "bad_request", "dashboard: method "+r.Method+" not allowed, use "+method)
	return false
}

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
}

func serveAsset(w http.ResponseWriter, name, contentType string) {
	data, err := assets.ReadFile(name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "dashboard: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(data)
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	// Kind classifies it: bad_request, not_found, forbidden, too_large, unsupported_media,
	// unauthorized, unavailable, timeout, service, transport or internal.
	Kind string `json:"kind"`
}

func writeError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Kind: kind})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: "dashboard: cannot encode the answer: " + err.Error(), Kind: "internal"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// stats is the Snapshot, or, without a Stats, the connections the server holds.
func (h *handler) stats() Snapshot {
	if h.st != nil {
		return h.st.Snapshot()
	}
	now := time.Now()
	snap := Snapshot{Time: now, Methods: []MethodStats{}, Clients: []Client{}}
	for _, nc := range h.s.ActiveClientConn() {
		if ra := nc.RemoteAddr(); ra != nil {
			snap.Clients = append(snap.Clients, Client{Network: ra.Network(), Address: ra.String()})
		}
	}
	snap.Totals.Clients = len(snap.Clients)
	return snap
}

// pageData is what the page template renders.
type pageData struct {
	Title     string
	Addresses []string
	Services  ServicesReply
	Registry  RegistryReply
	Stats     Snapshot
	HasStats  bool
	Calls     bool
	Methods   []string // Service.Method names for the call form
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: h.title, Services: h.services(r.Context()), Registry: h.registry(), Stats: h.stats(),
		HasStats: h.st != nil, Calls: !h.noCalls}
	for _, a := range h.s.Addresses() {
		d.Addresses = append(d.Addresses, a.Network()+"@"+a.String())
	}
	for _, svc := range d.Services.Services {
		for _, m := range svc.Methods {
			if m.Kind != "stream" {
				d.Methods = append(d.Methods, svc.Name+"."+m.Name)
			}
		}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "dashboard: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// callContext bounds a call the dashboard makes.
func (h *handler) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.callTimeout)
}
