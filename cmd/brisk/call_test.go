package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCall(t *testing.T) {
	addr := arithServer(t)
	tests := []struct {
		name      string
		stdin     string
		args      []string
		code      int
		stdout    string   // exact, when set
		stdoutHas []string // substrings
		stderrHas []string
	}{
		{name: "json argument", args: []string{"call", addr, "Arith.Mul", `{"A":6,"B":7}`},
			stdout: "{\n  \"C\": 42\n}\n"},
		{name: "tcp@ address", args: []string{"call", "tcp@" + addr, "Arith.Mul", `{"A":2,"B":21}`},
			stdout: "{\n  \"C\": 42\n}\n"},
		{name: "stdin without argument", stdin: `{"A":3,"B":5}`, args: []string{"call", addr, "Arith.Mul"},
			stdout: "{\n  \"C\": 15\n}\n"},
		{name: "stdin with dash", stdin: "{\"A\":4,\n \"B\":5}\n", args: []string{"call", addr, "Arith.Mul", "-"},
			stdout: "{\n  \"C\": 20\n}\n"},
		{name: "msgpack codec", args: []string{"call", addr, "Arith.Mul", `{"A":-6,"B":7}`, "--codec", "msgpack"},
			stdout: "{\n  \"C\": -42\n}\n"},
		{name: "metadata and verbose", args: []string{"call", addr, "Arith.EchoMetadata", "{}", "-m", "trace=abc", "-m", "user=ann", "-v"},
			stdoutHas: []string{`"trace": "abc"`, `"user": "ann"`},
			stderrHas: []string{"< echo-trace: abc", "< echo-user: ann"}},
		{name: "service error", args: []string{"call", addr, "Arith.Div", `{"A":1,"B":0}`},
			code: exitService, stderrHas: []string{"divide by zero"}},
		{name: "unknown method", args: []string{"call", addr, "Arith.Pow", `{}`},
			code: exitService, stderrHas: []string{"can't find method Pow"}},
		{name: "unknown service", args: []string{"call", addr, "Geometry.Area", `{}`},
			code: exitService, stderrHas: []string{"can't find service Geometry"}},
		{name: "timeout", args: []string{"call", addr, "Arith.Sleep", `{"Millis":10000}`, "--timeout", "200ms"},
			code: exitTransport, stderrHas: []string{"timed out after 200ms"}},
		{name: "connection refused", args: []string{"call", closedAddr(t), "Arith.Mul", `{}`},
			code: exitTransport, stderrHas: []string{"connect"}},
		{name: "bad JSON", args: []string{"call", addr, "Arith.Mul", `{"A":`},
			code: exitUsage, stderrHas: []string{"not valid JSON"}},
		{name: "not Service.Method", args: []string{"call", addr, "Mul", `{}`},
			code: exitUsage, stderrHas: []string{"not Service.Method"}},
		{name: "protobuf refused", args: []string{"call", addr, "Arith.Mul", `{}`, "--codec", "protobuf"},
			code: exitUsage, stderrHas: []string{"needs its Go type"}},
		{name: "bad metadata", args: []string{"call", addr, "Arith.Mul", `{}`, "-m", "novalue"},
			code: exitUsage, stderrHas: []string{"not key=value"}},
		{name: "unknown flag", args: []string{"call", addr, "Arith.Mul", `{}`, "--nope"},
			code: exitUsage, stderrHas: []string{"unknown flag: --nope"}},
		{name: "missing arguments", args: []string{"call", addr},
			code: exitUsage, stderrHas: []string{"accepts between 2 and 3 arg(s)"}},
		{name: "bad address", args: []string{"call", "sctp@" + addr, "Arith.Mul", `{}`},
			code: exitUsage, stderrHas: []string{"sctp"}},
		{name: "unknown registry scheme", args: []string{"call", "foo://h/x/Arith", "Arith.Mul", `{}`},
			code: exitUsage, stderrHas: []string{"unknown registry scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.stdout != "" && r.stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tt.stdout)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.code != 0 && r.stdout != "" {
				t.Errorf("a failed call printed on stdout: %q", r.stdout)
			}
		})
	}
}

func TestCallAuth(t *testing.T) {
	addr := arithServer(t, server.WithAuthFunc(func(_ context.Context, _ *protocol.Message, token string) error {
		if token != "s3cret" {
			return errors.New("bad token")
		}
		return nil
	}))
	tests := []struct {
		name string
		args []string
		code int
		has  string
	}{
		{"right token", []string{"--auth", "s3cret"}, exitOK, `"C": 42`},
		{"wrong token", []string{"--auth", "guess"}, exitService, "bad token"},
		{"no token", nil, exitService, "bad token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"call", addr, "Arith.Mul", `{"A":6,"B":7}`}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.has) {
				t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", tt.has, r.stdout, r.stderr)
			}
		})
	}
}

// TestBinary builds the brisk command and runs call as a real process: stdout, stderr and the
// exit status are the process's own.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "brisk")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	addr := arithServer(t)

	out, err := exec.Command(bin, "call", addr, "Arith.Mul", `{"A":6,"B":7}`).Output()
	if err != nil {
		t.Fatalf("brisk call: %v", err)
	}
	var reply struct{ C int }
	if err := json.Unmarshal(out, &reply); err != nil || reply.C != 42 {
		t.Fatalf("reply %q (%v), want C=42", out, err)
	}

	cmd := exec.Command(bin, "call", addr, "Arith.Pow", `{}`)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitService {
		t.Fatalf("unknown method: %v, want exit status %d", err, exitService)
	}
	if !strings.Contains(stderr.String(), "can't find method Pow") {
		t.Errorf("stderr %q lacks the server's text", stderr.String())
	}

	out, err = exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "brisk ") {
		t.Errorf("brisk version: %q, %v", out, err)
	}
}
