package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/registry/etcd/embedded"
	"github.com/brisk-rpc/brisk/server"
)

// testBase is the base path the registry tests register under.
const testBase = "/brisk_cli_test"

// startEtcd starts an in-process etcd and returns a client of it and its host:port.
func startEtcd(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*testsvc.Bound)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: testsvc.Bound, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli, srv.ClientAddr()
}

// registeredServer starts a brisk server registered in etcd under testBase with the given
// services (name → metadata) and returns its network@host:port.
func registeredServer(t *testing.T, cli *clientv3.Client, services map[string]string) string {
	t.Helper()
	ln := testsvc.Listen(t)
	key := "tcp@" + ln.Addr().String()
	reg, err := etcd.NewRegistrar(cli, key, registry.WithBasePath(testBase), registry.WithTTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	for name, md := range services {
		if err := s.RegisterName(name, testsvc.NewArith(), md); err != nil {
			t.Fatal(err)
		}
	}
	testsvc.ServeOn(t, s, ln)
	return key
}

func TestRegistryLs(t *testing.T) {
	cli, etcdAddr := startEtcd(t)
	a1 := registeredServer(t, cli, map[string]string{"Arith": "weight=2", "Calc": "group=b"})
	a2 := registeredServer(t, cli, map[string]string{"Arith": "weight=1"})
	base := "etcd://" + etcdAddr + testBase

	t.Run("every service", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"Arith (2 servers)", "Calc (1 server)", a1 + "  weight=2", a2 + "  weight=1", "group=b"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Index(r.stdout, "Arith") > strings.Index(r.stdout, "Calc") {
			t.Errorf("services are not sorted:\n%s", r.stdout)
		}
	})
	t.Run("one service as JSON", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"/Arith", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var got []serviceJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
		}
		if len(got) != 1 || got[0].Service != "Arith" || len(got[0].Servers) != 2 {
			t.Fatalf("got %+v, want Arith with 2 servers", got)
		}
		keys := map[string]string{}
		for _, s := range got[0].Servers {
			keys[s.Key] = s.Metadata
		}
		if keys[a1] != "weight=2" || keys[a2] != "weight=1" {
			t.Errorf("servers %v, want %s=weight=2 and %s=weight=1", keys, a1, a2)
		}
	})
	t.Run("empty base path", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", "etcd://"+etcdAddr+"/nothing_here/")
		if r.code != 0 || !strings.Contains(r.stdout, "(no services under /nothing_here)") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("call through the registry", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/Arith", "Arith.Mul", `{"A":6,"B":7}`)
		if r.code != 0 || !strings.Contains(r.stdout, `"C": 42`) {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("call a service the URL does not name", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/Arith", "Calc.Mul", `{"A":6,"B":7}`)
		if r.code != exitUsage {
			t.Errorf("exit %d, want %d; stderr %q", r.code, exitUsage, r.stderr)
		}
	})
	t.Run("call a service nobody registered", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/", "Nobody.Mul", `{}`, "--connect-timeout", "300ms")
		if r.code != exitTransport || !strings.Contains(r.stderr, "no servers of service Nobody") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("list through the registry", func(t *testing.T) {
		r := runCLI(t, "", "list", base+"/Calc")
		if r.code != 0 || !strings.Contains(r.stdout, "Calc (group=b)") || !strings.Contains(r.stdout, "Arith (weight=2)") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestRegistryLsUnreachable(t *testing.T) {
	r := runCLI(t, "", "registry", "ls", "etcd://"+closedAddr(t)+"/x/", "--timeout", "500ms")
	if r.code != exitTransport {
		t.Errorf("exit %d, want %d; stderr %q", r.code, exitTransport, r.stderr)
	}
}

// TestRegistryWatch watches a whole base path as JSON lines: the first list, then a second
// server joining, then a new service appearing (found by the rescan).
func TestRegistryWatch(t *testing.T) {
	cli, etcdAddr := startEtcd(t)
	first := registeredServer(t, cli, map[string]string{"Arith": ""})
	stdout, stderr, stop := background(t, "registry", "watch", "etcd://"+etcdAddr+testBase, "--json", "--rescan", "100ms")

	lines := func(s string) []serviceJSON {
		var out []serviceJSON
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if l == "" {
				continue
			}
			var ev serviceJSON
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("line %q is not JSON: %v", l, err)
			}
			out = append(out, ev)
		}
		return out
	}
	stdout.waitFor(t, "the first list", func(s string) bool {
		ev := lines(s)
		return len(ev) == 1 && ev[0].Service == "Arith" && len(ev[0].Servers) == 1 && ev[0].Servers[0].Key == first
	})
	second := registeredServer(t, cli, map[string]string{"Arith": "weight=5"})
	stdout.waitFor(t, "the list with the second server", func(s string) bool {
		ev := lines(s)
		last := ev[len(ev)-1]
		return len(last.Servers) == 2 && (last.Servers[0].Key == second || last.Servers[1].Key == second)
	})
	registeredServer(t, cli, map[string]string{"Calc": ""})
	stdout.waitFor(t, "the new service", func(s string) bool {
		ev := lines(s)
		return ev[len(ev)-1].Service == "Calc"
	})
	if code := stop(); code != 0 {
		t.Errorf("watch exited %d: %s", code, stderr.String())
	}
}

func TestRegistryWatchCount(t *testing.T) {
	cli, etcdAddr := startEtcd(t)
	registeredServer(t, cli, map[string]string{"Arith": "weight=3"})
	r := runCLI(t, "", "registry", "watch", "etcd://"+etcdAddr+testBase+"/Arith", "--count", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "Arith (1 server)") || !strings.Contains(r.stdout, "weight=3") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
