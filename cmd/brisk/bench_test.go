package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// benchReport is the part of brisk bench's JSON report the tests read.
type benchReport struct {
	Target      string             `json:"target"`
	Method      string             `json:"method"`
	Codec       string             `json:"codec"`
	Connections int                `json:"connections"`
	Requests    int64              `json:"requests"`
	OK          int64              `json:"ok"`
	Errors      int64              `json:"errors"`
	Throughput  float64            `json:"throughput"`
	Concurrency int                `json:"concurrency"`
	Rate        float64            `json:"rate"`
	Latency     map[string]float64 `json:"latency_ms"`
	ErrorKinds  []struct {
		Error string `json:"error"`
		Count int64  `json:"count"`
	} `json:"error_kinds"`
}

// runBrisk runs the brisk command in-process through the cobra root.
func runBrisk(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeReport(t *testing.T, stdout string) benchReport {
	t.Helper()
	var r benchReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout)
	}
	return r
}

func TestBenchCountJSON(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	code, stdout, stderr := runBrisk(t, "bench", addr, "Arith.Mul", `{"A":2,"B":3}`, "-n", "500", "-c", "8", "--json")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	r := decodeReport(t, stdout)
	if r.Requests != 500 || r.OK != 500 || r.Errors != 0 || len(r.ErrorKinds) != 0 {
		t.Errorf("requests %d, ok %d, errors %d (%v); want 500, 500, 0", r.Requests, r.OK, r.Errors, r.ErrorKinds)
	}
	if r.Target != addr || r.Method != "Arith.Mul" || r.Codec != "json" || r.Connections != 1 || r.Concurrency != 8 {
		t.Errorf("set-up in the report: %+v", r)
	}
	for _, k := range []string{"p50", "p90", "p99", "p99.9", "max"} {
		if r.Latency[k] <= 0 {
			t.Errorf("latency_ms.%s = %v, want a positive latency", k, r.Latency[k])
		}
	}
	if r.Throughput <= 0 {
		t.Errorf("throughput %v", r.Throughput)
	}
	// Not a terminal: no progress bar, and nothing else on stderr.
	if stderr != "" {
		t.Errorf("stderr: %q", stderr)
	}
}

// TestBenchSpreadsOverConnections counts the connections the server accepts.
func TestBenchSpreadsOverConnections(t *testing.T) {
	var accepted atomic.Int64
	_, _, addr := testsvc.NewArithServer(t, server.WithConnHooks(server.ConnHooks{
		Accepted: func(net.Conn) error { accepted.Add(1); return nil },
	}))
	code, stdout, stderr := runBrisk(t, "bench", "tcp@"+addr, "Arith.Mul", `{"A":2,"B":3}`,
		"-n", "300", "-c", "6", "--connections", "3", "--codec", "msgpack", "--json")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	r := decodeReport(t, stdout)
	if r.Requests != 300 || r.Errors != 0 || r.Connections != 3 || r.Codec != "msgpack" {
		t.Errorf("report: %+v", r)
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("the server accepted %d connections, want 3", n)
	}
}

func TestBenchTextAndCharts(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	dir := t.TempDir()
	pngPath, htmlPath := filepath.Join(dir, "lat.png"), filepath.Join(dir, "lat.html")
	code, stdout, stderr := runBrisk(t, "bench", addr, "Arith.Mul", `{"A":2,"B":3}`, "-n", "200", "-c", "4", "--chart", pngPath)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	for _, want := range []string{"brisk bench " + addr + " Arith.Mul: 200 calls, 4 workers over 1 connection(s), codec json",
		"(200 ok, 0 errors)", "Throughput:", "p99.9", "max"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "chart written to "+pngPath) {
		t.Errorf("stderr: %q", stderr)
	}
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("the chart is not a PNG: %v", err)
	}

	// Fixed rate, with the HTML chart.
	code, stdout, stderr = runBrisk(t, "bench", addr, "Arith.Mul", `{"A":2,"B":3}`, "-n", "100", "-c", "4",
		"--rate", "2000", "--chart", htmlPath, "--json")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	if r := decodeReport(t, stdout); r.Requests != 100 || r.Rate != 2000 {
		t.Errorf("report: %+v", r)
	}
	b, err = os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("Arith.Mul")) {
		t.Errorf("the HTML chart lacks the SVG or the method: %.300s", b)
	}
}

func TestBenchDurationAndWarmup(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	code, stdout, stderr := runBrisk(t, "bench", addr, "Arith.Mul", `{"A":2,"B":3}`, "-d", "200ms", "--warmup", "50ms", "-c", "2", "--json", "--progress")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	if r := decodeReport(t, stdout); r.Requests == 0 || r.Errors != 0 {
		t.Errorf("report: %+v", r)
	}
	if !strings.Contains(stderr, " req, 0 errors") {
		t.Errorf("--progress drew no progress bar on stderr: %q", stderr)
	}
}

func TestBenchServiceErrors(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	code, stdout, stderr := runBrisk(t, "bench", addr, "Arith.Div", `{"A":1,"B":0}`, "-n", "50", "-c", "3", "--json")
	if code != exitService {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitService, stderr)
	}
	r := decodeReport(t, stdout)
	if r.Requests != 50 || r.Errors != 50 || len(r.ErrorKinds) != 1 || r.ErrorKinds[0].Count != 50 ||
		!strings.Contains(r.ErrorKinds[0].Error, "divide by zero") {
		t.Errorf("report: %+v", r)
	}
	if !strings.Contains(stderr, "50 of 50 calls failed with a service error") {
		t.Errorf("stderr: %q", stderr)
	}
}

func TestBenchRejects(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	args := func(extra ...string) []string {
		return append([]string{"bench", addr, "Arith.Mul", `{"A":2,"B":3}`}, extra...)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"count and duration", args("-n", "10", "-d", "1s"), exitUsage, "not both"},
		{"no workers", args("-n", "10", "-c", "0"), exitUsage, "--concurrency"},
		{"more connections than workers", args("-n", "10", "-c", "2", "--connections", "3"), exitUsage, "--connections"},
		{"negative rate", args("-n", "10", "--rate", "-5"), exitUsage, "--rate"},
		{"chart format", args("-n", "10", "--chart", "out.jpg"), exitUsage, ".png, .svg or .html"},
		{"bad JSON", []string{"bench", addr, "Arith.Mul", `{"A":`, "-n", "10"}, exitUsage, "not valid JSON"},
		{"not Service.Method", []string{"bench", addr, "Mul", "{}", "-n", "10"}, exitUsage, "Service.Method"},
		{"unknown method", []string{"bench", addr, "Arith.Nope", "{}", "-n", "10"}, exitService, "Nope"},
		{"unknown service", []string{"bench", addr, "Nope.Mul", "{}", "-n", "10"}, exitService, "Nope"},
		{"too few arguments", []string{"bench", addr}, exitUsage, "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runBrisk(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
			if stdout != "" {
				t.Errorf("a report for a refused run: %s", stdout)
			}
		})
	}
}

func TestBenchUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, stderr := runBrisk(t, "bench", addr, "Arith.Mul", "{}", "-n", "10")
	if code != exitTransport || !strings.Contains(stderr, "connect") {
		t.Errorf("exit code %d, stderr %q; want %d and a connect error", code, stderr, exitTransport)
	}
}
