package client_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// Client middleware runs outermost first around Call and Go, may add metadata through the
// context, and sees the call's error.
func TestClientMiddleware(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	var mu sync.Mutex
	var log []string
	record := func(name string) client.Middleware {
		return func(next client.Invoker) client.Invoker {
			return func(ctx context.Context, inv *client.Invocation) error {
				ctx = client.WithMetadata(ctx, map[string]string{"via": name})
				err := next(ctx, inv)
				mu.Lock()
				log = append(log, name+" "+inv.ServicePath+"."+inv.ServiceMethod+" "+errText(err))
				mu.Unlock()
				return err
			}
		}
	}
	opt := client.DefaultOption
	opt.Middleware = []client.Middleware{record("outer"), record("inner")}
	c := testsvc.Connect(t, addr, opt)

	var md map[string]string
	if err := c.Call(context.Background(), "Arith.EchoMetadata", &testsvc.Args{}, &md); err != nil {
		t.Fatal(err)
	}
	if md["via"] != "inner" {
		t.Fatalf("server saw metadata %v, want via=inner (the innermost middleware's)", md)
	}
	var reply testsvc.Reply
	call := <-c.Go(context.Background(), "Arith.Div", &testsvc.Args{A: 1, B: 0}, &reply, nil).Done
	if call.Error == nil {
		t.Fatal("division by zero succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	want := "inner Arith.EchoMetadata ok, outer Arith.EchoMetadata ok, inner Arith.Div " + errText(call.Error) +
		", outer Arith.Div " + errText(call.Error)
	if got := strings.Join(log, ", "); got != want {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func TestWithMetadataMerges(t *testing.T) {
	ctx := client.WithMetadata(context.Background(), map[string]string{"a": "1", "b": "1"})
	ctx = client.WithMetadata(ctx, map[string]string{"b": "2", "c": "2"})
	ctx = client.WithMetadata(ctx, nil)
	got := client.RequestMetadata(ctx)
	if len(got) != 3 || got["a"] != "1" || got["b"] != "2" || got["c"] != "2" {
		t.Fatalf("merged metadata %v", got)
	}
}

// A token given per call wins over Option.AuthToken.
func TestPerCallAuthTokenWins(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	opt := client.DefaultOption
	opt.AuthToken = "option"
	c := testsvc.Connect(t, addr, opt)
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"option token", nil, "option"},
		{"per-call token", map[string]string{protocol.AuthKey: "call"}, "call"},
	}
	for _, tt := range tests {
		var md map[string]string
		ctx := client.WithMetadata(context.Background(), tt.md)
		if err := c.Call(ctx, "Arith.EchoMetadata", &testsvc.Args{}, &md); err != nil {
			t.Fatal(err)
		}
		if md[protocol.AuthKey] != tt.want {
			t.Errorf("%s: server saw %q, want %q", tt.name, md[protocol.AuthKey], tt.want)
		}
	}
}
