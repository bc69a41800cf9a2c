package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

type args = testsvc.Args
type reply = testsvc.Reply

type unexportedArgs struct{ A int }

type badArity struct{}

func (*badArity) TwoParams(ctx context.Context, a *args) error { return nil }

type badContext struct{}

func (*badContext) NoContext(a int, b *args, r *reply) error { return nil }

type badReply struct{}

func (*badReply) ReplyByValue(ctx context.Context, a *args, r reply) error { return nil }

type badReturn struct{}

func (*badReturn) TwoResults(ctx context.Context, a *args, r *reply) (int, error) { return 0, nil }

type badNoError struct{}

func (*badNoError) ReturnsInt(ctx context.Context, a *args, r *reply) int { return 0 }

type badUnexported struct{}

func (*badUnexported) PrivateArgs(ctx context.Context, a *unexportedArgs, r *reply) error { return nil }

type noMethods struct{}

// mixed has one good method and a helper of another shape: the helper is not published.
type mixed struct{}

func (*mixed) Good(ctx context.Context, a *args, r *reply) error { r.C = a.A + a.B; return nil }
func (*mixed) Helper() int                                       { return 1 }

// Square is registered as a plain function.
func Square(ctx context.Context, a *args, r *reply) error { r.C = a.A * a.A; return nil }

func TestRegistrationErrors(t *testing.T) {
	tests := []struct {
		name     string
		register func(s *server.Server) error
		service  string
		method   string // the RegistrationError's Method field
		text     string // in the error text
	}{
		{"too few parameters", func(s *server.Server) error { return s.RegisterName("S", new(badArity), "") }, "S", "", "TwoParams"},
		{"no context", func(s *server.Server) error { return s.RegisterName("S", new(badContext), "") }, "S", "", "NoContext: first parameter must be context.Context"},
		{"reply not a pointer", func(s *server.Server) error { return s.RegisterName("S", new(badReply), "") }, "S", "", "ReplyByValue: reply type"},
		{"two results", func(s *server.Server) error { return s.RegisterName("S", new(badReturn), "") }, "S", "", "TwoResults"},
		{"returns int", func(s *server.Server) error { return s.RegisterName("S", new(badNoError), "") }, "S", "", "ReturnsInt"},
		{"unexported args", func(s *server.Server) error { return s.RegisterName("S", new(badUnexported), "") }, "S", "", "PrivateArgs: argument type"},
		{"no methods", func(s *server.Server) error { return s.RegisterName("S", new(noMethods), "") }, "S", "", "no exported methods"},
		{"nil receiver", func(s *server.Server) error { return s.RegisterName("S", nil, "") }, "S", "", "nil"},
		{"empty name", func(s *server.Server) error { return s.RegisterName("", new(mixed), "") }, "", "", "empty service name"},
		{"reserved name", func(s *server.Server) error { return s.RegisterName("_brisk.x", new(mixed), "") }, "_brisk.x", "", "reserved"},
		{"reserved name for a function", func(s *server.Server) error {
			return s.RegisterFunctionName("_briskReflect", "F", Square, "")
		}, "_briskReflect", "", "reserved"},
		{"bad function signature", func(s *server.Server) error {
			return s.RegisterFunctionName("F", "Bad", func(ctx context.Context, a *args) error { return nil }, "")
		}, "F", "Bad", "F.Bad"},
		{"not a function", func(s *server.Server) error { return s.RegisterFunctionName("F", "Num", 42, "") }, "F", "Num", "int is not a function"},
		{"anonymous function", func(s *server.Server) error {
			return s.RegisterFunction("F", func(ctx context.Context, a *args, r *reply) error { return nil }, "")
		}, "F", "", "RegisterFunctionName"},
		{"duplicate method", func(s *server.Server) error {
			if err := s.RegisterName("Dup", new(mixed), ""); err != nil {
				return err
			}
			return s.RegisterFunctionName("Dup", "Good", Square, "")
		}, "Dup", "Good", "already registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.register(server.NewServer())
			var re *server.RegistrationError
			if !errors.As(err, &re) {
				t.Fatalf("got %v (%T), want *server.RegistrationError", err, err)
			}
			if re.Service != tt.service || (tt.method != "" && re.Method != tt.method) {
				t.Fatalf("Service %q Method %q, want %q %q", re.Service, re.Method, tt.service, tt.method)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestRegisterAndCall(t *testing.T) {
	s := server.NewServer()
	if err := s.Register(new(mixed), "group=a"); err != nil { // published as "mixed"
		t.Fatal(err)
	}
	if err := s.RegisterFunction("Funcs", Square, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunctionName("Funcs", "Cube", func(ctx context.Context, a args, r *reply) error {
		r.C = a.A * a.A * a.A
		return nil
	}, "weight=3"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunction("Methods", new(mixed).Good, ""); err != nil { // a method value: "Good"
		t.Fatal(err)
	}
	if got := s.Services(); len(got) != 3 || got["mixed"] != "group=a" || got["Funcs"] != "weight=3" {
		t.Fatalf("Services() = %v", got)
	}
	c := testsvc.Connect(t, testsvc.Serve(t, s), client.DefaultOption)
	tests := []struct {
		method string
		args   args
		want   int
		err    string
	}{
		{"mixed.Good", args{A: 2, B: 3}, 5, ""},
		{"mixed.Helper", args{}, 0, "can't find method Helper"},
		{"Funcs.Square", args{A: 9}, 81, ""},
		{"Funcs.Cube", args{A: 3}, 27, ""},
		{"Methods.Good", args{A: 3, B: 4}, 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			var r reply
			err := c.Call(context.Background(), tt.method, &tt.args, &r)
			if tt.err != "" {
				if !client.IsServiceError(err) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want a service error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || r.C != tt.want {
				t.Fatalf("got %d, %v; want %d", r.C, err, tt.want)
			}
		})
	}
}

func TestServeListenerNil(t *testing.T) {
	s := server.NewServer()
	if err := s.ServeListener(nil); err == nil || !strings.Contains(err.Error(), "nil listener") {
		t.Fatalf("ServeListener(nil) = %v", err)
	}
}
