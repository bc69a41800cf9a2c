package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	js "github.com/google/jsonschema-go/jsonschema"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/reflection"
	"github.com/brisk-rpc/brisk/server"
)

// Types of the Geo service, which the reflection tests describe.
type (
	Point struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	// Shape is recursive (Parent) and holds most kinds of field.
	Shape struct {
		Name    string            `json:"name"`
		Points  []Point           `json:"points"`
		Tags    map[string]string `json:"tags,omitempty"`
		Parent  *Shape            `json:"parent,omitempty"`
		Created time.Time         `json:"created"`
		Blob    []byte            `json:"blob,omitempty"`
		Weight  *float64          `json:"weight"`
		secret  int
	}
	Area struct {
		Value  float64 `json:"value"`
		Shapes int     `json:"shapes"`
	}
	// Opaque has no exported field: an empty object.
	Opaque struct{ hidden int }
)

type Geo struct{}

// Area sums the shoelace areas of s and its parents.
func (Geo) Area(_ context.Context, s *Shape, r *Area) error {
	for ; s != nil; s = s.Parent {
		p := s.Points
		for i := range p {
			j := (i + 1) % len(p)
			r.Value += (p[i].X*p[j].Y - p[j].X*p[i].Y) / 2
		}
		r.Shapes++
	}
	return nil
}

func (Geo) Touch(_ context.Context, o Opaque, r *Opaque) error { r.hidden = o.hidden; return nil }

func (Geo) Chat(_ context.Context, _ *server.Stream) error { return nil }

func Double(_ context.Context, n int, r *int) error { *r = 2 * n; return nil }

// newGeoServer serves Arith (metadata "group=a"), Geo and Funcs.Double.
func newGeoServer(t *testing.T, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s := server.NewServer(opts...)
	if err := s.RegisterName("Arith", testsvc.NewArith(), "group=a"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Geo", Geo{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunction("Funcs", Double, "weight=2"); err != nil {
		t.Fatal(err)
	}
	return s, testsvc.Serve(t, s)
}

func ctxBound(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	t.Cleanup(cancel)
	return ctx
}

func schemaOf(t *testing.T, raw json.RawMessage) *js.Resolved {
	t.Helper()
	var s js.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("schema %s: %v", raw, err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve %s: %v", raw, err)
	}
	return rs
}

func validJSON(rs *js.Resolved, doc []byte) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return err
	}
	return rs.Validate(v)
}

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

// checkListing checks the listing newGeoServer's server gives.
func checkListing(t *testing.T, l *reflection.ListReply) {
	t.Helper()
	if got, want := names(l.Services, func(s reflection.ServiceInfo) string { return s.Name }), []string{"Arith", "Funcs", "Geo"}; !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v (sorted, no _brisk built-ins)", got, want)
	}
	if md := l.Services[0].Metadata; md != "group=a" {
		t.Errorf("Arith metadata %q", md)
	}
	arith := names(l.Services[0].Methods, func(m reflection.MethodInfo) string { return m.Name })
	if !slices.IsSorted(arith) || !slices.Contains(arith, "Mul") || !slices.Contains(arith, "Div") {
		t.Errorf("Arith methods %v: want sorted, with Mul and Div", arith)
	}
	if got, want := names(l.Services[2].Methods, func(m reflection.MethodInfo) string { return m.Name + ":" + m.Kind }),
		[]string{"Area:unary", "Chat:stream", "Touch:unary"}; !slices.Equal(got, want) {
		t.Errorf("Geo methods %v, want %v", got, want)
	}
	chat, _ := l.Method("Geo", "Chat")
	if chat == nil || chat.Args != nil || chat.Reply != nil {
		t.Errorf("stream method Chat: %+v, want no schemas", chat)
	}
	double, ok := l.Method("Funcs", "Double")
	var dargs map[string]any
	if !ok || json.Unmarshal(double.Args, &dargs) != nil || len(dargs) != 2 || dargs["type"] != "integer" ||
		dargs["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("Funcs.Double args schema %s", double.Args)
	}
	touch, _ := l.Method("Geo", "Touch")
	if touch == nil || !strings.Contains(string(touch.Args), `"properties":{}`) || !strings.Contains(string(touch.Args), `"additionalProperties":false`) {
		t.Errorf("Geo.Touch args schema (a struct of unexported fields) %s", touch.Args)
	}

	area, ok := l.Method("Geo", "Area")
	if !ok {
		t.Fatal("no Geo.Area")
	}
	args, reply := schemaOf(t, area.Args), schemaOf(t, area.Reply)
	w := 2.5
	good := Shape{Name: "sq", Points: []Point{{0, 0}, {2, 0}, {2, 2}, {0, 2}}, Tags: map[string]string{"k": "v"},
		Created: time.Now(), Blob: []byte("\x00\xff"), Weight: &w,
		Parent: &Shape{Name: "tri", Points: []Point{{0, 0}, {1, 0}, {0, 1}}}}
	doc, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := validJSON(args, doc); err != nil {
		t.Errorf("Area's args schema rejects %s: %v", doc, err)
	}
	for _, bad := range []string{
		`{"name":5,"points":[],"created":"2024-01-01T00:00:00Z","weight":null}`,
		`{"name":"x","points":[{"x":"1","y":2}],"created":"2024-01-01T00:00:00Z","weight":null}`,
		`{"name":"x","points":null,"created":"2024-01-01T00:00:00Z","weight":null,"parent":{"name":1}}`,
		`{"name":"x","points":null,"created":"2024-01-01T00:00:00Z","weight":"heavy"}`,
		`{"name":"x","points":null,"created":"2024-01-01T00:00:00Z","weight":null,"blob":[1,2]}`,
		`{"points":null,"created":"2024-01-01T00:00:00Z","weight":null}`,
		`[]`,
	} {
		if err := validJSON(args, []byte(bad)); err == nil {
			t.Errorf("Area's args schema accepts %s", bad)
		}
	}
	if err := validJSON(reply, []byte(`{"value":2.5,"shapes":1}`)); err != nil {
		t.Errorf("Area's reply schema rejects a reply: %v", err)
	}
	if err := validJSON(reply, []byte(`{"value":"2.5","shapes":1}`)); err == nil {
		t.Error("Area's reply schema accepts a string value")
	}
}

func TestReflectionListJSON(t *testing.T) {
	_, addr := newGeoServer(t)
	// The client's default codec is msgpack: List asks in JSON all the same.
	c := testsvc.Connect(t, addr, client.DefaultOption)
	l, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, l)

	// A document the args schema accepts is one the server accepts: call Area with it.
	w := 1.0
	doc, _ := json.Marshal(Shape{Name: "sq", Points: []Point{{0, 0}, {2, 0}, {2, 2}, {0, 2}}, Weight: &w})
	area, _ := l.Method("Geo", "Area")
	if err := validJSON(schemaOf(t, area.Args), doc); err != nil {
		t.Fatal(err)
	}
	req := protocol.NewMessage()
	req.SetSerializeType(protocol.JSON)
	req.ServicePath, req.ServiceMethod, req.Payload = "Geo", "Area", doc
	resp, err := c.Invoke(ctxBound(t), req)
	if err != nil || resp.MessageStatusType() != protocol.Normal {
		t.Fatalf("Geo.Area with %s: %v %v", doc, err, resp.Metadata)
	}
	if err := validJSON(schemaOf(t, area.Reply), resp.Payload); err != nil || string(resp.Payload) != `{"value":4,"shapes":1}` {
		t.Errorf("reply %s (schema: %v)", resp.Payload, err)
	}
}

func TestReflectionListMsgPack(t *testing.T) {
	_, addr := newGeoServer(t)
	opt := client.DefaultOption
	opt.SerializeType = protocol.MsgPack
	c := testsvc.Connect(t, addr, opt)
	var l reflection.ListReply
	if err := c.Call(ctxBound(t), protocol.ReflectionService+".List", struct{}{}, &l); err != nil {
		t.Fatal(err)
	}
	checkListing(t, &l)
	viaJSON, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(viaJSON)
	b, _ := json.Marshal(&l)
	if !bytes.Equal(a, b) {
		t.Errorf("msgpack and JSON listings differ:\n%s\n%s", a, b)
	}
}

func TestReflectionRefusedCodecs(t *testing.T) {
	_, addr := newGeoServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	for _, st := range []protocol.SerializeType{protocol.ProtoBuffer, protocol.Thrift, protocol.SerializeNone} {
		req := reflection.Request()
		req.SetSerializeType(st)
		resp, err := c.Invoke(ctxBound(t), req)
		if err != nil {
			t.Fatal(err)
		}
		msg := resp.Metadata[protocol.ServiceError]
		if resp.MessageStatusType() != protocol.Error || msg != "brisk: reflection needs the json or msgpack serialize type, not "+st.String() {
			t.Errorf("%s: status %d, error %q", st, resp.MessageStatusType(), msg)
		}
	}
}

func TestReflectionUnknownMethod(t *testing.T) {
	var handlerErr atomic.Pointer[error]
	record := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			err := next(ctx, inv)
			if inv.ServicePath == protocol.ReflectionService {
				handlerErr.Store(&err)
			}
			return err
		}
	}
	_, addr := newGeoServer(t, server.WithMiddleware(record))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	var l reflection.ListReply
	err := c.Call(ctxBound(t), protocol.ReflectionService+".Describe", struct{}{}, &l)
	if !client.IsNotFound(err) || err.Error() != "brisk: can't find method Describe of service _brisk.Reflection" {
		t.Errorf("unknown method: %v", err)
	}
	if p := handlerErr.Load(); p == nil || !errors.Is(*p, server.ErrUnknownMethod) {
		t.Errorf("the handler's error %v does not wrap ErrUnknownMethod", p)
	}
}

func TestReflectionIsNotAStream(t *testing.T) {
	_, addr := newGeoServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	st, err := c.NewStream(ctxBound(t), protocol.ReflectionService+".List")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v any
	if err := st.Recv(&v); !client.IsServiceError(err) || !strings.Contains(err.Error(), "is not a stream method") {
		t.Errorf("Recv on a stream to reflection = %v", err)
	}
	// The connection still serves calls.
	if _, err := reflection.List(ctxBound(t), c); err != nil {
		t.Error(err)
	}
}

func TestReflectionThroughMiddlewareAndAuth(t *testing.T) {
	var seen atomic.Int32
	limit := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if inv.ServicePath == protocol.ReflectionService {
				if seen.Add(1) > 1 {
					return server.ErrRateLimited
				}
			}
			return next(ctx, inv)
		}
	}
	auth := server.WithAuthFunc(func(_ context.Context, _ *protocol.Message, token string) error {
		if token != "sesame" {
			return errors.New("bad token")
		}
		return nil
	})
	_, addr := newGeoServer(t, auth, server.WithMiddleware(limit))

	// Without the token: refused, and the middleware never sees the request.
	_, err := reflection.List(ctxBound(t), testsvc.Connect(t, addr, client.DefaultOption))
	if err == nil || !strings.Contains(err.Error(), "bad token") {
		t.Errorf("List without a token: %v", err)
	}
	opt := client.DefaultOption
	opt.AuthToken = "sesame"
	c := testsvc.Connect(t, addr, opt)
	l, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatalf("List with the token: %v", err)
	}
	checkListing(t, l)
	// The middleware's rate limit applies to reflection as to any request.
	if _, err := reflection.List(ctxBound(t), c); !client.IsRefused(err) {
		t.Errorf("second List: %v, want a rate-limit refusal", err)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the middleware saw %d reflection requests, want 2", n)
	}
}

func TestReflectionThroughGateway(t *testing.T) {
	auth := server.WithAuthFunc(func(_ context.Context, _ *protocol.Message, token string) error {
		if token != "sesame" {
			return errors.New("bad token")
		}
		return nil
	})
	_, addr := newGeoServer(t, auth)
	post := func(token string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(ctxBound(t), http.MethodPost, "http://"+addr+"/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-RPCX-ServicePath", protocol.ReflectionService)
		req.Header.Set("X-RPCX-ServiceMethod", "List")
		req.Header.Set("X-RPCX-SerializeType", "1")
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)

	resp, body := post("sesame")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var l reflection.ListReply
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	checkListing(t, &l)
	if !bytes.HasPrefix(body, []byte(`{"services":[{"name":"Arith","metadata":"group=a","methods":[{"name":"Block","kind":"unary","args":{"type":"object",`)) {
		t.Errorf("wire shape: %.120s", body)
	}

	if resp, body := post("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d: %s", resp.StatusCode, body)
	}

	// JSON-RPC 2.0 reaches it too.
	req, err := http.NewRequestWithContext(ctxBound(t), http.MethodPost, "http://"+addr+"/",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"_brisk.Reflection.List","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "sesame")
	rpcResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rpcResp.Body.Close()
	var rpc struct {
		Result *reflection.ListReply `json:"result"`
		Error  any                   `json:"error"`
	}
	if err := json.NewDecoder(rpcResp.Body).Decode(&rpc); err != nil || rpc.Result == nil {
		t.Fatalf("JSON-RPC: %v, error %v", err, rpc.Error)
	}
	checkListing(t, rpc.Result)
}

func TestReflectionSeesNewRegistrations(t *testing.T) {
	s, addr := newGeoServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	first, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunctionName("Funcs", "Triple", func(_ context.Context, n int, r *int) error { *r = 3 * n; return nil }, ""); err != nil {
		t.Fatal(err)
	}
	second, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := first.Method("Funcs", "Triple"); ok {
		t.Error("Triple listed before it was registered")
	}
	if m, ok := second.Method("Funcs", "Triple"); !ok || m.Kind != reflection.KindUnary {
		t.Errorf("Triple after registration: %+v %v", m, ok)
	}
	if len(second.Services) != len(first.Services) {
		t.Errorf("services %d then %d", len(first.Services), len(second.Services))
	}
}

func TestReflectionConcurrent(t *testing.T) {
	s, addr := newGeoServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	want, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				// Registrations race with listings: each listing is a consistent table.
				name := "Extra" + string(rune('A'+i))
				if err := s.RegisterFunctionName(name, "Double", Double, ""); err != nil {
					errs <- err
				}
				return
			}
			l, err := reflection.List(ctxBound(t), c)
			if err != nil {
				errs <- err
				return
			}
			if m, ok := l.Method("Geo", "Area"); !ok || m.Args == nil {
				errs <- errors.New("Geo.Area missing from a concurrent listing")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final, err := reflection.List(ctxBound(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Services) != len(want.Services)+4 {
		t.Errorf("%d services after 4 registrations, had %d", len(final.Services), len(want.Services))
	}
	arith, _ := json.Marshal(final.Services[0])
	if !bytes.Contains(wantJSON, arith) {
		t.Error("Arith's description changed")
	}
}
