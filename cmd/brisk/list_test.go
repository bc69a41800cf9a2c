package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/reflection"
	"github.com/brisk-rpc/brisk/server"
)

// listServer serves Arith (metadata group=math) and the Streams test service.
func listServer(t *testing.T) string {
	t.Helper()
	s := server.NewServer()
	if err := s.RegisterName("Arith", testsvc.NewArith(), "group=math"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterName("Streams", testsvc.NewStreams(), ""); err != nil {
		t.Fatal(err)
	}
	return testsvc.Serve(t, s)
}

func TestList(t *testing.T) {
	addr := listServer(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		has    []string
		hasNot []string
	}{
		{name: "all services", args: []string{"list", addr},
			has:    []string{"Arith (group=math)\n", "  Mul ", "unary", "Streams\n", "  Echo ", "stream"},
			hasNot: []string{"_brisk", `"$schema"`, "properties"}},
		{name: "one service", args: []string{"list", addr, "Arith"},
			has: []string{"Arith (group=math)", "  Div ", "  Sleep "}, hasNot: []string{"Streams"}},
		{name: "schemas", args: []string{"list", addr, "Arith", "--schema"},
			has: []string{"Arith.Mul", "args:  {", `"A"`, "reply: {", `"C"`}},
		{name: "one method", args: []string{"list", addr, "Arith.Mul", "--schema"},
			has: []string{"Arith (group=math)\n  Mul  unary\n", "Arith.Mul\n    args:  {", "    reply: {"}, hasNot: []string{"Div"}},
		{name: "unknown service", args: []string{"list", addr, "Geometry"}, code: exitService},
		{name: "unknown method", args: []string{"list", addr, "Arith.Pow"}, code: exitService},
		{name: "closed port", args: []string{"list", closedAddr(t)}, code: exitTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.has {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, r.stdout)
				}
			}
		})
	}
}

func TestListJSON(t *testing.T) {
	addr := listServer(t)
	for _, schema := range []bool{false, true} {
		args := []string{"list", addr, "--json"}
		if schema {
			args = append(args, "--schema")
		}
		r := runCLI(t, "", args...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var reply reflection.ListReply
		if err := json.Unmarshal([]byte(r.stdout), &reply); err != nil {
			t.Fatalf("--json output is not a ListReply: %v\n%s", err, r.stdout)
		}
		if len(reply.Services) != 2 || reply.Services[0].Name != "Arith" || reply.Services[1].Name != "Streams" {
			t.Fatalf("services %+v, want Arith and Streams", reply.Services)
		}
		mul, ok := reply.Method("Arith", "Mul")
		if !ok || mul.Kind != reflection.KindUnary {
			t.Fatalf("Arith.Mul: %+v, %v", mul, ok)
		}
		if got := len(mul.Args) > 0; got != schema {
			t.Errorf("--schema=%v: Arith.Mul args schema present = %v", schema, got)
		}
	}
}
