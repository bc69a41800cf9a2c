package embedded_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
)

// connect opens a client of srv, closed at cleanup.
func connect(t *testing.T, srv *embedded.Server) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   srv.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// TestRestartKeepsDataAndPorts: free ports are picked, the data survives Close, and
// Start(s.Config()) serves it again on the same address.
func TestRestartKeepsDataAndPorts(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %v", time.Since(start))
	defer srv.Close()
	addr := srv.ClientAddr()
	if strings.HasSuffix(addr, ":0") || len(srv.Endpoints()) != 1 || srv.Endpoints()[0] != "http://"+addr {
		t.Fatalf("ClientAddr %q, Endpoints %v", addr, srv.Endpoints())
	}
	cli := connect(t, srv)
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close() // again: nothing

	start = time.Now()
	srv2, err := embedded.Start(ctx, srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %v", time.Since(start))
	defer srv2.Close()
	if srv2.ClientAddr() != addr {
		t.Fatalf("restarted on %s, want %s", srv2.ClientAddr(), addr)
	}
	// The old client reconnects by itself.
	if got := get(t, cli, "/k"); got != "v" {
		t.Fatalf("/k = %q after restart, want v", got)
	}
}

// TestIndependentServers: two servers in one process, each with its own temporary data.
func TestIndependentServers(t *testing.T) {
	ctx := context.Background()
	a, err := embedded.Start(ctx, embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := embedded.Start(ctx, embedded.Config{ClientAddr: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.ClientAddr() == b.ClientAddr() {
		t.Fatalf("both on %s", a.ClientAddr())
	}
	ca, cb := connect(t, a), connect(t, b)
	if _, err := ca.Put(ctx, "/k", "a"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, cb, "/k"); got != "" {
		t.Fatalf("b sees /k = %q written to a", got)
	}
}

// TestStartFails: bad addresses are rejected; an ended context stops the start.
func TestStartFails(t *testing.T) {
	for _, cfg := range []embedded.Config{
		{ClientAddr: "127.0.0.1"},
		{ClientAddr: "example.com:2379"},
		{ClientAddr: "127.0.0.1:x"},
		{PeerAddr: "nohost"},
	} {
		if srv, err := embedded.Start(context.Background(), cfg); err == nil {
			srv.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if srv, err := embedded.Start(ctx, embedded.Config{}); err == nil {
		srv.Close()
		t.Errorf("Start with an ended context succeeded")
	}
}

// TestPortInUse: a given port that is taken is an error naming it.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := embedded.Start(context.Background(), embedded.Config{ClientAddr: ln.Addr().String()})
	if err == nil {
		srv.Close()
		t.Fatal("Start on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q does not name %s", err, ln.Addr())
	}
}
