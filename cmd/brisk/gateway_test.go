package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
)

// startGateway runs brisk gateway in the background for target and returns its base URL and
// its stop function.
func startGateway(t *testing.T, target string, flags ...string) (string, func() int, *syncBuffer) {
	t.Helper()
	args := append([]string{"gateway", "--listen", "127.0.0.1:0", target}, flags...)
	_, stderr, stop := background(t, args...)
	re := regexp.MustCompile(`listening on (http://\S+),`)
	out := stderr.waitFor(t, "the gateway to listen", re.MatchString)
	return re.FindStringSubmatch(out)[1], stop, stderr
}

// post sends a curl-style request and returns the status, body and headers.
func post(t *testing.T, url string, header map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestGateway(t *testing.T) {
	cli, etcdAddr := startEtcd(t)
	registeredServer(t, cli, map[string]string{"Arith": ""})
	targets := []struct {
		name   string
		target string
	}{
		{"direct address", arithServer(t)},
		{"registry URL", "etcd://" + etcdAddr + testBase + "/"},
	}
	jsonrpc := map[string]string{"Content-Type": "application/json"}
	invoke := map[string]string{
		gateway.HeaderServicePath: "Arith", gateway.HeaderServiceMethod: "Mul",
		gateway.HeaderSerializeType: "1", gateway.HeaderMessageID: "7",
	}
	requests := []struct {
		name   string
		path   string
		header map[string]string
		body   string
		status int
		want   string
	}{
		{"JSON-RPC", "/", jsonrpc, `{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{"A":6,"B":7}}`,
			http.StatusOK, `"result":{"C":42}`},
		{"JSON-RPC unknown method", "/", jsonrpc, `{"jsonrpc":"2.0","id":2,"method":"Arith.Pow","params":{}}`,
			http.StatusOK, `"code":-32601`},
		{"JSON-RPC service error", "/", jsonrpc, `{"jsonrpc":"2.0","id":3,"method":"Arith.Div","params":{"A":1,"B":0}}`,
			http.StatusOK, "divide by zero"},
		{"HTTP invoke", "/", invoke, `{"A":7,"B":8}`, http.StatusOK, `{"C":56}`},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			base, stop, stderr := startGateway(t, tg.target)
			for _, rq := range requests {
				status, body, _ := post(t, base+rq.path, rq.header, rq.body)
				if status != rq.status || !strings.Contains(body, rq.want) {
					t.Errorf("%s: %d %s, want %d with %s", rq.name, status, body, rq.status, rq.want)
				}
			}
			if code := stop(); code != 0 {
				t.Errorf("gateway exited %d: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "brisk gateway: stopped") {
				t.Errorf("no graceful stop reported: %s", stderr.String())
			}
		})
	}
}

// TestGatewayOneService checks that a registry URL naming a service forwards only it, and
// that a server gone away is a 5xx, not a hang.
func TestGatewayOneService(t *testing.T) {
	cli, etcdAddr := startEtcd(t)
	registeredServer(t, cli, map[string]string{"Arith": "", "Calc": ""})
	base, stop, _ := startGateway(t, "etcd://"+etcdAddr+testBase+"/Arith")
	jsonrpc := map[string]string{"Content-Type": "application/json"}
	if _, body, _ := post(t, base, jsonrpc, `{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{"A":2,"B":3}}`); !strings.Contains(body, `"C":6`) {
		t.Errorf("Arith.Mul: %s", body)
	}
	if _, body, _ := post(t, base, jsonrpc, `{"jsonrpc":"2.0","id":1,"method":"Calc.Mul","params":{"A":2,"B":3}}`); !strings.Contains(body, "can't find service Calc") {
		t.Errorf("Calc.Mul through an Arith gateway: %s", body)
	}
	stop()

	gw, stop2, _ := startGateway(t, closedAddr(t), "--connect-timeout", "300ms")
	status, body, _ := post(t, gw, jsonrpc, `{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{}}`)
	if status != http.StatusOK || !strings.Contains(body, `"error"`) {
		t.Errorf("gateway to a closed port: %d %s", status, body)
	}
	stop2()
}

func TestGatewayBadListen(t *testing.T) {
	r := runCLI(t, "", "gateway", "--listen", "256.0.0.1:99999", arithServer(t))
	if r.code != exitTransport || !strings.Contains(r.stderr, "listen") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
