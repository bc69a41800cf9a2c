package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/plugin/auth"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// counter is an inner middleware that counts the requests reaching the method, per method.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) middleware(next server.Handler) server.Handler {
	return func(ctx context.Context, inv *server.Invocation) error {
		c.mu.Lock()
		c.runs[inv.ServiceMethod]++
		c.mu.Unlock()
		return next(ctx, inv)
	}
}

func (c *counter) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[method]
}

func call(c *client.Client, method string) error {
	var r testsvc.Reply
	return c.Call(context.Background(), "Arith."+method, &testsvc.Args{A: 6, B: 3}, &r)
}

func TestRulesPrecedence(t *testing.T) {
	rules := auth.NewRules(
		auth.Rule{Check: auth.Tokens("root")},                                   // catch-all
		auth.Rule{Method: "Ping", Check: auth.Public},                           // any service's Ping
		auth.Rule{Service: "Arith", Check: auth.Tokens("user", "admin")},        // service
		auth.Rule{Service: "Arith", Method: "Div", Check: auth.Tokens("admin")}, // method
		auth.Rule{Service: "Arith", Method: "Div", Check: auth.Public},          // duplicate: ignored
		auth.Rule{Service: "Locked", Method: "X"},                               // nil Check refuses
	)
	tests := []struct {
		service, method, token string
		want                   error // nil, or the cause wrapped
	}{
		{"Arith", "Mul", "user", nil},
		{"Arith", "Mul", "admin", nil},
		{"Arith", "Mul", "root", auth.ErrBadToken},
		{"Arith", "Mul", "", auth.ErrNoToken},
		{"Arith", "Div", "admin", nil},
		{"Arith", "Div", "user", auth.ErrBadToken},
		{"Arith", "Ping", "", auth.ErrNoToken}, // the service rule beats the method-only rule
		{"Other", "Ping", "", nil},
		{"Other", "Mul", "root", nil},
		{"Other", "Mul", "user", auth.ErrBadToken},
		{"Locked", "X", "root", auth.ErrBadToken},
	}
	for _, tt := range tests {
		err := rules.Check(context.Background(), tt.service, tt.method, tt.token)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s.%s with %q: %v, want accepted", tt.service, tt.method, tt.token, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || !auth.IsUnauthorized(err) {
			t.Errorf("%s.%s with %q: %v, want ErrUnauthorized wrapping %v", tt.service, tt.method, tt.token, err, tt.want)
		}
	}
	noRules := auth.NewRules(auth.Rule{Service: "Arith", Check: auth.Public})
	if err := noRules.Check(context.Background(), "Other", "Mul", "x"); !errors.Is(err, auth.ErrNoRule) {
		t.Errorf("request no rule covers: %v, want ErrNoRule", err)
	}
}

func TestMiddlewareOverTheWire(t *testing.T) {
	cnt := &counter{runs: map[string]int{}}
	mw := auth.Middleware(
		auth.Rule{Service: "Arith", Check: auth.Tokens("user", "admin")},
		auth.Rule{Service: "Arith", Method: "Div", Check: auth.Tokens("admin")},
		auth.Rule{Service: "Arith", Method: "EchoMetadata", Check: auth.Public},
	)
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(mw, cnt.middleware))
	tests := []struct {
		token, method string
		ok            bool
	}{
		{"user", "Mul", true},
		{"admin", "Mul", true},
		{"user", "Div", false},
		{"admin", "Div", true},
		{"", "Mul", false},
		{"wrong", "Mul", false},
		{"", "EchoMetadata", true},
		{"wrong", "Div", false},
	}
	want := map[string]int{}
	for _, tt := range tests {
		opt := client.DefaultOption
		opt.AuthToken = tt.token
		c := testsvc.Connect(t, addr, opt)
		for range 3 {
			err := call(c, tt.method)
			if tt.ok && err != nil {
				t.Fatalf("%s with %q: %v, want success", tt.method, tt.token, err)
			}
			if !tt.ok && (!auth.IsUnauthorized(err) || !client.IsServiceError(err) || client.IsRefused(err)) {
				t.Fatalf("%s with %q: %v, want a ServiceError starting %q (not retryable)", tt.method, tt.token, err, auth.TextUnauthorized)
			}
		}
		if c.IsShutdown() {
			t.Fatalf("the connection of %q closed: the middleware must leave it open", tt.token)
		}
		if tt.ok {
			want[tt.method] += 3
		}
	}
	for _, m := range []string{"Mul", "Div", "EchoMetadata"} {
		if got := cnt.get(m); got != want[m] {
			t.Errorf("%s reached the handler %d times, want %d", m, got, want[m])
		}
	}
}

// TestWithAuthFunc combines a coarse server.WithAuthFunc (a known token at all, or the
// connection closes) with per-method rules in the middleware.
func TestWithAuthFunc(t *testing.T) {
	cnt := &counter{runs: map[string]int{}}
	known := auth.NewRules(auth.Rule{Check: auth.Tokens("user", "admin")})
	perMethod := auth.Middleware(
		auth.Rule{Service: "Arith", Check: auth.Public},
		auth.Rule{Service: "Arith", Method: "Div", Check: auth.Tokens("admin")},
	)
	_, _, addr := testsvc.NewArithServer(t, server.WithAuthFunc(known.AuthFunc()),
		server.WithMiddleware(perMethod, cnt.middleware))

	connect := func(token string) *client.Client {
		opt := client.DefaultOption
		opt.AuthToken = token
		return testsvc.Connect(t, addr, opt)
	}
	user, admin, stranger := connect("user"), connect("admin"), connect("stranger")
	if err := call(user, "Mul"); err != nil {
		t.Fatalf("user Mul: %v", err)
	}
	if err := call(user, "Div"); !auth.IsUnauthorized(err) {
		t.Fatalf("user Div: %v, want unauthorized", err)
	}
	if err := call(user, "Mul"); err != nil || user.IsShutdown() {
		t.Fatalf("user Mul after a refused Div: %v (the middleware must not close the connection)", err)
	}
	if err := call(admin, "Div"); err != nil {
		t.Fatalf("admin Div: %v", err)
	}
	if err := call(stranger, "Mul"); !auth.IsUnauthorized(err) || !strings.Contains(err.Error(), auth.ErrBadToken.Error()) {
		t.Fatalf("stranger Mul: %v, want unauthorized", err)
	}
	testsvc.Eventually(t, "the AuthFunc refusal to close the connection", stranger.IsShutdown)
	if got, want := cnt.get("Mul"), 2; got != want {
		t.Errorf("Mul ran %d times, want %d", got, want)
	}
	if got, want := cnt.get("Div"), 1; got != want {
		t.Errorf("Div ran %d times, want %d", got, want)
	}
}

// TestPerCallToken sends the token as call metadata, for a client without Option.AuthToken
// (with one, Client.Call sends the Option's token whatever the context says).
func TestPerCallToken(t *testing.T) {
	cnt := &counter{runs: map[string]int{}}
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(
		auth.Middleware(auth.Rule{Check: auth.Tokens("admin")}), cnt.middleware))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	if err := call(c, "Mul"); !auth.IsUnauthorized(err) || !strings.Contains(err.Error(), auth.ErrNoToken.Error()) {
		t.Fatalf("no token: %v, want unauthorized: no token", err)
	}
	ctx := client.WithMetadata(context.Background(), map[string]string{protocol.AuthKey: "admin"})
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &r); err != nil || r.C != 6 {
		t.Fatalf("per-call token admin: %d, %v", r.C, err)
	}
	if got := cnt.get("Mul"); got != 1 {
		t.Errorf("Mul ran %d times, want 1", got)
	}
}
