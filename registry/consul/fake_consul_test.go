package consul_test

// This file is a STAND-IN for a Consul agent, used because no Consul server can be had on
// the machine these tests were written on (Consul is not packaged in Debian, and there is no
// internet access besides the Go module proxy and Debian's archive). When CONSUL_HTTP_ADDR
// is set the tests run against that real agent instead, and this file is not used.
//
// fakeConsul implements, over real HTTP, exactly the endpoints the package uses, following
// Consul's documented HTTP API (api-docs/session, api-docs/kv, api-docs/agent/service,
// api-docs/agent/check, api-docs/features/blocking):
//
//   - PUT /v1/session/create (TTL between 10s and 86400s or 400; Behavior release or
//     delete; LockDelay), PUT /v1/session/renew/:id (the session, or 404 once it is gone),
//     PUT /v1/session/destroy/:id (idempotent), GET /v1/session/info/:id (the tests read
//     it). A session not renewed for twice its TTL is
//     invalidated, as Consul does; invalidation deletes (behaviour delete) or releases the
//     keys it holds and starts their lock delay.
//   - GET /v1/kv/:key (?recurse) with X-Consul-Index, 404 when nothing matches, and
//     blocking queries (?index=&wait=, at most 10 minutes, default 5, plus up to wait/16 of
//     jitter); the index of a listing is the highest ModifyIndex among the prefix's keys and
//     tombstones, or the KV table's index when there is none, as Consul computes it.
//   - PUT /v1/kv/:key with ?acquire= (fails with 500 on an unknown session, false when
//     another session holds the key or during its lock delay), ?cas=, ?release=, ?flags=;
//     a plain PUT keeps the lock holder. DELETE /v1/kv/:key with ?cas= and ?recurse.
//   - PUT /v1/agent/service/register (one Check, initial Status, TTL), PUT
//     /v1/agent/service/deregister/:id (404 if unknown), PUT
//     /v1/agent/service/maintenance/:id?enable=&reason=, PUT /v1/agent/check/update/:id
//     (a TTL check not updated within its TTL goes critical), GET /v1/agent/services and
//     GET /v1/agent/checks.
//
// What it leaves out: ACLs, datacenters, namespaces, consistency modes, session health
// checks (serfHealth never fails here), DeregisterCriticalServiceAfter reaping, and
// tombstone reaping. Stop and Start take its listener down and up again on the same port,
// closing every connection, while its state (and its session timers) lives on, as a Consul
// server with persistent data would after a restart.

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConsul is the stand-in agent (see the file comment).
type fakeConsul struct {
	t    testing.TB
	addr string

	run      sync.Mutex // guards the serving fields below
	srv      *http.Server
	served   chan struct{} // closed when srv's Serve returned
	stopped  chan struct{} // closed by Stop: blocking queries answer at once
	handlers sync.WaitGroup

	mu       sync.Mutex
	index    uint64 // the "raft" index: bumped by every write
	kvIndex  uint64 // the index of the last KV write or delete
	kv       map[string]*fakeKV
	tombs    map[string]uint64    // deleted keys and the index of their deletion
	delays   map[string]time.Time // keys whose lock delay ends then
	sessions map[string]*fakeSession
	services map[string]*fakeService
	checks   map[string]*fakeCheck
	changed  chan struct{} // closed and replaced by every KV change
	closed   bool
}

// fakeKV is a stored key, in the JSON form of GET /v1/kv.
type fakeKV struct {
	Key         string
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Flags       uint64
	Value       []byte // base64 in JSON, as Consul sends it
	Session     string `json:",omitempty"`
}

type fakeSession struct {
	ID        string
	Name      string
	Node      string
	LockDelay time.Duration
	Behavior  string
	TTL       string
	CreateIdx uint64

	ttl   time.Duration
	timer *time.Timer
}

type fakeService struct {
	ID      string
	Service string
	Tags    []string
	Meta    map[string]string
	Port    int
	Address string
}

type fakeCheck struct {
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	Type        string

	ttl   time.Duration
	timer *time.Timer
}

// newFakeConsul starts a fake agent on a free loopback port, stopped when the test ends.
func newFakeConsul(t testing.TB) *fakeConsul {
	t.Helper()
	f := &fakeConsul{
		t:        t,
		index:    1,
		kv:       make(map[string]*fakeKV),
		tombs:    make(map[string]uint64),
		delays:   make(map[string]time.Time),
		sessions: make(map[string]*fakeSession),
		services: make(map[string]*fakeService),
		checks:   make(map[string]*fakeCheck),
		changed:  make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake consul: %v", err)
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(func() {
		f.Stop()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.closed = true
		for _, s := range f.sessions {
			if s.timer != nil {
				s.timer.Stop()
			}
		}
		for _, c := range f.checks {
			if c.timer != nil {
				c.timer.Stop()
			}
		}
	})
	return f
}

// Addr returns the host:port the fake serves on.
func (f *fakeConsul) Addr() string { return f.addr }

func (f *fakeConsul) serve(ln net.Listener) {
	f.srv = &http.Server{Handler: f.mux(), ReadHeaderTimeout: 10 * time.Second}
	f.served = make(chan struct{})
	f.stopped = make(chan struct{})
	srv, served := f.srv, f.served
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
}

// Stop closes the listener and every connection, as a killed agent would; the state is
// kept. Stopping a stopped fake does nothing.
func (f *fakeConsul) Stop() {
	f.run.Lock()
	srv, served, stopped := f.srv, f.served, f.stopped
	f.srv = nil
	// Not held while the handlers finish: a blocking query that is just starting takes it
	// to read f.stopped.
	f.run.Unlock()
	if srv == nil {
		return
	}
	close(stopped)
	_ = srv.Close()
	<-served
	f.handlers.Wait()
}

// Start listens again on the same port.
func (f *fakeConsul) Start() {
	f.run.Lock()
	defer f.run.Unlock()
	if f.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", f.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port is still being released
	}
	if err != nil {
		f.t.Fatalf("fake consul: listening again on %s: %v", f.addr, err)
	}
	f.serve(ln)
}

func (f *fakeConsul) mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("PUT /v1/session/create", f.sessionCreate)
	m.HandleFunc("PUT /v1/session/renew/{id}", f.sessionRenew)
	m.HandleFunc("PUT /v1/session/destroy/{id}", f.sessionDestroy)
	m.HandleFunc("GET /v1/session/info/{id}", f.sessionInfo)
	m.HandleFunc("GET /v1/kv/{key...}", f.kvGet)
	m.HandleFunc("PUT /v1/kv/{key...}", f.kvPut)
	m.HandleFunc("DELETE /v1/kv/{key...}", f.kvDelete)
	m.HandleFunc("PUT /v1/agent/service/register", f.serviceRegister)
	m.HandleFunc("PUT /v1/agent/service/deregister/{id}", f.serviceDeregister)
	m.HandleFunc("PUT /v1/agent/service/maintenance/{id}", f.serviceMaintenance)
	m.HandleFunc("PUT /v1/agent/check/update/{id}", f.checkUpdate)
	m.HandleFunc("GET /v1/agent/services", f.agentServices)
	m.HandleFunc("GET /v1/agent/checks", f.agentChecks)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.handlers.Add(1)
		defer f.handlers.Done()
		m.ServeHTTP(w, r)
	})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), code)
}

// bump advances the index; a KV change also wakes blocking queries. Call with f.mu held.
func (f *fakeConsul) bump(kvChange bool) uint64 {
	f.index++
	if kvChange {
		f.kvIndex = f.index
		close(f.changed)
		f.changed = make(chan struct{})
	}
	return f.index
}

// ---- sessions ----

func (f *fakeConsul) sessionCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name, Node, Behavior, TTL string
		LockDelay                 json.RawMessage
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
			return
		}
	}
	s := &fakeSession{Name: body.Name, Node: body.Node, Behavior: body.Behavior, TTL: body.TTL, LockDelay: 15 * time.Second}
	if s.Node == "" {
		s.Node = "fake-consul"
	}
	switch s.Behavior {
	case "":
		s.Behavior = "release"
	case "release", "delete":
	default:
		fail(w, http.StatusBadRequest, "Invalid Behavior setting '%s'", s.Behavior)
		return
	}
	if len(body.LockDelay) > 0 {
		d, err := lockDelayValue(body.LockDelay)
		if err != nil {
			fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
			return
		}
		s.LockDelay = min(d, 60*time.Second)
	}
	if s.TTL != "" {
		ttl, err := time.ParseDuration(s.TTL)
		if err != nil {
			fail(w, http.StatusBadRequest, "Request decode failed: invalid TTL %q: %v", s.TTL, err)
			return
		}
		if ttl != 0 && (ttl < 10*time.Second || ttl > 86400*time.Second) {
			fail(w, http.StatusBadRequest, "Invalid Session TTL '%s', must be between [10s=24h0m0s]", ttl)
			return
		}
		s.ttl = ttl
	}
	s.ID = newUUID()
	f.mu.Lock()
	s.CreateIdx = f.bump(false)
	if s.ttl > 0 {
		id := s.ID
		// Consul invalidates a session not renewed for twice its TTL.
		s.timer = time.AfterFunc(2*s.ttl, func() { f.invalidate(id) })
	}
	f.sessions[s.ID] = s
	f.mu.Unlock()
	reply(w, map[string]string{"ID": s.ID})
}

// lockDelayValue decodes a LockDelay as Consul does: a duration string or a number of
// nanoseconds, either taken as seconds when below 1000.
func lockDelayValue(raw json.RawMessage) (time.Duration, error) {
	var d time.Duration
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		v, err := time.ParseDuration(str)
		if err != nil {
			return 0, err
		}
		d = v
	} else {
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, err
		}
		d = time.Duration(n)
	}
	if d < 1000 {
		d *= time.Second
	}
	return d, nil
}

func (s *fakeSession) view() map[string]any {
	return map[string]any{
		"ID": s.ID, "Name": s.Name, "Node": s.Node, "LockDelay": s.LockDelay, "Behavior": s.Behavior,
		"TTL": s.TTL, "NodeChecks": []string{"serfHealth"}, "ServiceChecks": nil,
		"CreateIndex": s.CreateIdx, "ModifyIndex": s.CreateIdx,
	}
}

func (f *fakeConsul) sessionRenew(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	s, ok := f.sessions[id]
	if ok && s.ttl > 0 {
		s.timer.Reset(2 * s.ttl)
	}
	var view map[string]any
	if ok {
		view = s.view()
	}
	f.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "Session id '%s' not found", id)
		return
	}
	reply(w, []any{view})
}

func (f *fakeConsul) sessionInfo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	out := []any{}
	if s, ok := f.sessions[r.PathValue("id")]; ok {
		out = append(out, s.view())
	}
	f.mu.Unlock()
	reply(w, out)
}

func (f *fakeConsul) sessionDestroy(w http.ResponseWriter, r *http.Request) {
	f.invalidate(r.PathValue("id"))
	reply(w, true)
}

// invalidate ends a session: its keys are deleted or released and enter their lock delay.
func (f *fakeConsul) invalidate(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok || f.closed {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	delete(f.sessions, id)
	idx := f.bump(false)
	now := time.Now()
	touched := false
	for key, e := range f.kv {
		if e.Session != id {
			continue
		}
		touched = true
		if s.LockDelay > 0 {
			f.delays[key] = now.Add(s.LockDelay)
		}
		if s.Behavior == "delete" {
			delete(f.kv, key)
			f.tombs[key] = idx
		} else {
			e.Session = ""
			e.ModifyIndex = idx
		}
	}
	if touched {
		f.kvIndex = idx
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// Sessions returns the IDs of the live sessions.
func (f *fakeConsul) Sessions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.sessions))
}

// ---- KV ----

// listIndex is the X-Consul-Index of a read of key (a prefix if recurse), as Consul's state
// store computes it. Call with f.mu held.
func (f *fakeConsul) listIndex(key string, recurse bool) uint64 {
	if !recurse {
		return f.kvIndex
	}
	var idx uint64
	for k, e := range f.kv {
		if strings.HasPrefix(k, key) {
			idx = max(idx, e.ModifyIndex)
		}
	}
	if key == "" {
		return f.kvIndex
	}
	for k, i := range f.tombs {
		if strings.HasPrefix(k, key) {
			idx = max(idx, i)
		}
	}
	if idx == 0 {
		return f.kvIndex
	}
	return idx
}

func (f *fakeConsul) kvGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	recurse := q.Has("recurse")
	var waitIndex uint64
	if s := q.Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "Invalid index: %v", err)
			return
		}
		waitIndex = n
	}
	wait := 5 * time.Minute
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fail(w, http.StatusBadRequest, "Invalid wait time: %v", err)
			return
		}
		wait = min(d, 10*time.Minute)
	}
	wait += rand.N(wait/16 + 1) // Consul's jitter
	var deadline <-chan time.Time
	if waitIndex > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}

	f.run.Lock()
	stopped := f.stopped
	f.run.Unlock()
	for {
		f.mu.Lock()
		idx := f.listIndex(key, recurse)
		if waitIndex == 0 || idx > waitIndex {
			entries := f.read(key, recurse)
			f.mu.Unlock()
			respondKV(w, idx, entries)
			return
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			waitIndex = 0 // answer with whatever is there
		case <-r.Context().Done():
			return
		case <-stopped:
			return
		}
	}
}

// read returns copies of the entries of key (a prefix if recurse), sorted. Call with f.mu
// held.
func (f *fakeConsul) read(key string, recurse bool) []fakeKV {
	var out []fakeKV
	for k, e := range f.kv {
		if k == key || recurse && strings.HasPrefix(k, key) {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b fakeKV) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func respondKV(w http.ResponseWriter, idx uint64, entries []fakeKV) {
	h := w.Header()
	h.Set("X-Consul-Index", strconv.FormatUint(idx, 10))
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
	if len(entries) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	reply(w, entries)
}

func (f *fakeConsul) kvPut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if key == "" {
		fail(w, http.StatusBadRequest, "Missing key name")
		return
	}
	value, err := io.ReadAll(io.LimitReader(r.Body, 512*1024+1))
	if err != nil {
		return
	}
	if len(value) > 512*1024 {
		fail(w, http.StatusRequestEntityTooLarge, "Request body(%d bytes) too large, max size: 524288 bytes", len(value))
		return
	}
	q := r.URL.Query()
	var flags uint64
	if s := q.Get("flags"); s != "" {
		if flags, err = strconv.ParseUint(s, 10, 64); err != nil {
			fail(w, http.StatusBadRequest, "Invalid flags: %v", err)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.kv[key]
	switch {
	case q.Has("acquire"):
		sid := q.Get("acquire")
		if _, ok := f.sessions[sid]; !ok {
			fail(w, http.StatusInternalServerError, "invalid session %q", sid)
			return
		}
		if until, ok := f.delays[key]; ok && time.Now().Before(until) {
			reply(w, false)
			return
		}
		if cur != nil && cur.Session != "" && cur.Session != sid {
			reply(w, false)
			return
		}
		idx := f.bump(true)
		if cur == nil {
			cur = &fakeKV{Key: key, CreateIndex: idx}
			f.kv[key] = cur
			delete(f.tombs, key)
		}
		if cur.Session != sid {
			cur.LockIndex++
			cur.Session = sid
		}
		cur.Value, cur.Flags, cur.ModifyIndex = value, flags, idx
		reply(w, true)
	case q.Has("release"):
		sid := q.Get("release")
		if cur == nil || cur.Session != sid {
			reply(w, false)
			return
		}
		idx := f.bump(true)
		cur.Session = ""
		cur.Value, cur.Flags, cur.ModifyIndex = value, flags, idx
		reply(w, true)
	default:
		if s := q.Get("cas"); s != "" {
			cas, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				fail(w, http.StatusBadRequest, "Invalid cas: %v", err)
				return
			}
			if (cas == 0 && cur != nil) || (cas != 0 && (cur == nil || cur.ModifyIndex != cas)) {
				reply(w, false)
				return
			}
		}
		idx := f.bump(true)
		if cur == nil {
			cur = &fakeKV{Key: key, CreateIndex: idx}
			f.kv[key] = cur
			delete(f.tombs, key)
		}
		// A plain update keeps the lock holder.
		cur.Value, cur.Flags, cur.ModifyIndex = value, flags, idx
		reply(w, true)
	}
}

func (f *fakeConsul) kvDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := q.Get("cas"); s != "" {
		cas, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "Invalid cas: %v", err)
			return
		}
		cur := f.kv[key]
		if cas == 0 || cur == nil || cur.ModifyIndex != cas {
			reply(w, false)
			return
		}
	}
	var keys []string
	for k := range f.kv {
		if k == key || q.Has("recurse") && strings.HasPrefix(k, key) {
			keys = append(keys, k)
		}
	}
	idx := f.bump(true)
	for _, k := range keys {
		delete(f.kv, k)
		f.tombs[k] = idx
	}
	reply(w, true)
}

// ---- agent services and checks ----

func (f *fakeConsul) serviceRegister(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID, Name, Address string
		Tags              []string
		Port              int
		Meta              map[string]string
		Check             *struct {
			CheckID, Name, Notes, TTL, Status, DeregisterCriticalServiceAfter string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	if body.Name == "" {
		fail(w, http.StatusBadRequest, "Missing service name")
		return
	}
	if body.ID == "" {
		body.ID = body.Name
	}
	for k, v := range body.Meta {
		if len(k) > 128 || len(v) > 512 || strings.HasPrefix(k, "consul-") ||
			strings.ContainsFunc(k, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
			}) {
			fail(w, http.StatusBadRequest, "Invalid Service Meta: invalid key or value %q", k)
			return
		}
	}
	if len(body.Meta) > 64 {
		fail(w, http.StatusBadRequest, "Invalid Service Meta: too many pairs")
		return
	}
	var check *fakeCheck
	if c := body.Check; c != nil {
		ttl, err := time.ParseDuration(c.TTL)
		if err != nil || ttl <= 0 {
			fail(w, http.StatusBadRequest, "Invalid check: TTL %q", c.TTL)
			return
		}
		if c.DeregisterCriticalServiceAfter != "" {
			if _, err := time.ParseDuration(c.DeregisterCriticalServiceAfter); err != nil {
				fail(w, http.StatusBadRequest, "Invalid check: %v", err)
				return
			}
		}
		check = &fakeCheck{
			CheckID: c.CheckID, Name: c.Name, Notes: c.Notes, Status: c.Status,
			ServiceID: body.ID, ServiceName: body.Name, Type: "ttl", ttl: ttl,
		}
		if check.CheckID == "" {
			check.CheckID = "service:" + body.ID
		}
		if check.Name == "" {
			check.Name = "Service '" + body.Name + "' check"
		}
		if check.Status == "" {
			check.Status = "critical"
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[body.ID] = &fakeService{
		ID: body.ID, Service: body.Name, Tags: body.Tags, Meta: body.Meta, Port: body.Port, Address: body.Address,
	}
	if check != nil {
		if old := f.checks[check.CheckID]; old != nil && old.timer != nil {
			old.timer.Stop()
		}
		f.checks[check.CheckID] = check
		f.armTTL(check)
	}
	w.WriteHeader(http.StatusOK)
}

// armTTL (re)starts the TTL of a check: not updated within it, the check goes critical.
// Call with f.mu held.
func (f *fakeConsul) armTTL(c *fakeCheck) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(c.ttl, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.checks[c.CheckID] == c {
			c.Status, c.Output = "critical", "TTL expired"
		}
	})
}

func (f *fakeConsul) serviceDeregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[id]; !ok {
		fail(w, http.StatusNotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
		return
	}
	delete(f.services, id)
	for cid, c := range f.checks {
		if c.ServiceID == id {
			if c.timer != nil {
				c.timer.Stop()
			}
			delete(f.checks, cid)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (f *fakeConsul) serviceMaintenance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if !q.Has("enable") {
		fail(w, http.StatusBadRequest, "Missing value for enable")
		return
	}
	enable, err := strconv.ParseBool(q.Get("enable"))
	if err != nil {
		fail(w, http.StatusBadRequest, "Invalid value for enable: %q", q.Get("enable"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	svc, ok := f.services[id]
	if !ok {
		fail(w, http.StatusNotFound, "Unknown service ID %q", id)
		return
	}
	cid := "_service_maintenance:" + id
	if !enable {
		delete(f.checks, cid)
		w.WriteHeader(http.StatusOK)
		return
	}
	reason := q.Get("reason")
	if reason == "" {
		reason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
	}
	f.checks[cid] = &fakeCheck{
		CheckID: cid, Name: "Service Maintenance Mode", Status: "critical", Notes: reason,
		ServiceID: id, ServiceName: svc.Service, Type: "maintenance",
	}
	w.WriteHeader(http.StatusOK)
}

func (f *fakeConsul) checkUpdate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct{ Status, Output string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	switch body.Status {
	case "passing", "warning", "critical":
	default:
		fail(w, http.StatusBadRequest, "Invalid check status: %q", body.Status)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.checks[id]
	if !ok || c.Type != "ttl" {
		fail(w, http.StatusNotFound, "Unknown check ID %q. Ensure that the check ID is passed, not the check name.", id)
		return
	}
	c.Status, c.Output = body.Status, body.Output
	f.armTTL(c)
	w.WriteHeader(http.StatusOK)
}

func (f *fakeConsul) agentServices(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	out := make(map[string]fakeService, len(f.services))
	for id, s := range f.services {
		out[id] = *s
	}
	f.mu.Unlock()
	reply(w, out)
}

func (f *fakeConsul) agentChecks(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	out := make(map[string]fakeCheck, len(f.checks))
	for id, c := range f.checks {
		out[id] = *c
	}
	f.mu.Unlock()
	reply(w, out)
}

// newUUID returns a random UUID, the form of Consul's session IDs.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
