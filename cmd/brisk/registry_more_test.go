package main

// registry ls and call through zookeeper:// and redis:// URLs, against real servers started
// by internal/realsvc (skipped when they are not installed, failed under make test).

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/redis"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
	"github.com/brisk-rpc/brisk/server"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// discardZK is a zk.Logger that drops go-zookeeper's messages.
type discardZK struct{}

func (discardZK) Printf(string, ...any) {}

// zkConnect opens a ZooKeeper connection with a session, closed at cleanup.
func zkConnect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, 2*time.Second, zk.WithLogger(discardZK{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(conn.Close)
	// The session is established by the library's goroutine; nothing to wait on but its state.
	testsvc.Eventually(t, "a ZooKeeper session", func() bool { return conn.State() == zk.StateHasSession })
	return conn
}

// redisClient returns a client of the Redis at addr, closed at cleanup.
func redisClient(t *testing.T, addr, password string) *goredis.Client {
	t.Helper()
	cli := goredis.NewClient(&goredis.Options{Addr: addr, Password: password, DialTimeout: testsvc.Bound})
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// serveRegistered starts a brisk server on loopback tcp whose services (name → metadata)
// are advertised through the Registrar newReg makes for its key, and returns the key
// (tcp@host:port). The server is closed (and so withdrawn) at cleanup, before anything the
// caller set up earlier.
func serveRegistered(t *testing.T, newReg func(key string) (*registry.Registrar, error), services map[string]string) string {
	t.Helper()
	ln := testsvc.Listen(t)
	key := "tcp@" + ln.Addr().String()
	reg, err := newReg(key)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	for name, md := range services {
		if err := s.RegisterName(name, testsvc.NewArith(), md); err != nil {
			ln.Close()
			t.Fatal(err)
		}
	}
	testsvc.ServeOn(t, s, ln)
	return key
}

// checkRegistryBackend runs the registry ls and call assertions against a registry whose URL
// prefix (scheme://host:port/base) is base, where a1 serves Arith (weight=2) and Calc
// (group=b) and a2 serves Arith (weight=1).
func checkRegistryBackend(t *testing.T, base, a1, a2 string) {
	t.Run("ls every service", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"/")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"Arith (2 servers)", "Calc (1 server)", a1 + "  weight=2", a2 + "  weight=1", a1 + "  group=b"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if i, j := strings.Index(r.stdout, "Arith ("), strings.Index(r.stdout, "Calc ("); i < 0 || j < 0 || i > j {
			t.Errorf("services missing or not sorted:\n%s", r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("ls every service as JSON", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"/", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var got []serviceJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
		}
		if len(got) != 2 || got[0].Service != "Arith" || got[1].Service != "Calc" {
			t.Fatalf("got %+v, want Arith then Calc", got)
		}
		if len(got[1].Servers) != 1 || got[1].Servers[0] != (serverJSON{Key: a1, Network: "tcp", Address: strings.TrimPrefix(a1, "tcp@"), Metadata: "group=b"}) {
			t.Errorf("Calc's servers %+v, want only %s with group=b", got[1].Servers, a1)
		}
	})
	t.Run("ls one service as JSON", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"/Arith", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		// The exact field names are the output's contract.
		var raw []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
		}
		if len(raw) != 1 || raw[0]["service"] != "Arith" {
			t.Fatalf("got %v, want one object for Arith", raw)
		}
		servers, _ := raw[0]["servers"].([]any)
		byKey := map[string]map[string]any{}
		for _, s := range servers {
			m, _ := s.(map[string]any)
			key, _ := m["key"].(string)
			byKey[key] = m
		}
		want := map[string]string{a1: "weight=2", a2: "weight=1"}
		if len(byKey) != len(want) {
			t.Fatalf("servers %v, want %v", servers, want)
		}
		for key, md := range want {
			m := byKey[key]
			if m == nil {
				t.Errorf("%s is not listed: %v", key, servers)
				continue
			}
			if m["network"] != "tcp" || m["address"] != strings.TrimPrefix(key, "tcp@") || m["metadata"] != md {
				t.Errorf("server %v, want network tcp, address %s, metadata %s", m, strings.TrimPrefix(key, "tcp@"), md)
			}
			if _, ok := m["inactive"]; ok {
				t.Errorf("an active server has \"inactive\": %v", m)
			}
		}
	})
	t.Run("ls an empty base path", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"_nothing_here/")
		if r.code != 0 || !strings.Contains(r.stdout, "(no services under ") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, "", "registry", "ls", base+"_nothing_here/", "--json")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("--json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ls a service nobody registered", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", base+"/Nobody")
		if r.code != 0 || !strings.Contains(r.stdout, "Nobody (0 servers)") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("call through the registry", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/Arith", "Arith.Mul", `{"A":6,"B":7}`)
		if r.code != 0 || r.stdout != "{\n  \"C\": 42\n}\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("call a base path URL", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/", "Calc.Mul", `{"A":-3,"B":5}`)
		if r.code != 0 || r.stdout != "{\n  \"C\": -15\n}\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("service error through the registry", func(t *testing.T) {
		r := runCLI(t, "", "call", base+"/Arith", "Arith.Div", `{"A":1,"B":0}`)
		if r.code != exitService || !strings.Contains(r.stderr, "divide by zero") || r.stdout != "" {
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
}

// TestRegistryZooKeeper registers two servers in a real ZooKeeper, under a two-level base
// path (the registrar creates the parents), and lists and calls them through zookeeper://
// and zk:// URLs.
func TestRegistryZooKeeper(t *testing.T) {
	t.Parallel()
	zkp := realsvc.ZooKeeper(t)
	conn := zkConnect(t, zkp.Addr())
	const zkBase = "/brisk_cli/zk_test"
	newReg := func(key string) (*registry.Registrar, error) {
		return zookeeper.NewRegistrar(conn, key, registry.WithBasePath(zkBase))
	}
	a1 := serveRegistered(t, newReg, map[string]string{"Arith": "weight=2", "Calc": "group=b"})
	a2 := serveRegistered(t, newReg, map[string]string{"Arith": "weight=1"})

	checkRegistryBackend(t, "zookeeper://"+zkp.Addr()+zkBase, a1, a2)

	t.Run("zk scheme", func(t *testing.T) {
		r := runCLI(t, "", "call", "zk://"+zkp.Addr()+zkBase+"/Arith", "Arith.Mul", `{"A":4,"B":5}`)
		if r.code != 0 || !strings.Contains(r.stdout, `"C": 20`) {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ls the parent of the base path", func(t *testing.T) {
		// /brisk_cli holds only the zk_test node: listed as a "service" with no servers.
		r := runCLI(t, "", "registry", "ls", "zookeeper://"+zkp.Addr()+"/brisk_cli/", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var got []serviceJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
		}
		if len(got) != 1 || got[0].Service != "zk_test" {
			t.Errorf("got %+v", got)
		}
	})
}

// TestRegistryZooKeeperUnreachable: a ZooKeeper nobody serves is a transport error within
// --timeout.
func TestRegistryZooKeeperUnreachable(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := runCLI(t, "", "registry", "ls", "zookeeper://"+closedAddr(t)+"/x/", "--timeout", "500ms")
	// Which error comes first, the client's own "could not connect" or the command's
	// deadline, depends on the zk client's retry timing.
	if r.code != exitTransport || !(strings.Contains(r.stderr, "could not connect") || strings.Contains(r.stderr, "deadline exceeded")) {
		t.Errorf("exit %d, want %d; stdout %q, stderr %q", r.code, exitTransport, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v with --timeout 500ms", d)
	}
}

// TestRegistryRedis registers two servers in a real Redis and lists and calls them through
// redis:// URLs.
func TestRegistryRedis(t *testing.T) {
	t.Parallel()
	rs := realsvc.StartRedis(t)
	cli := redisClient(t, rs.Addr(), "")
	newReg := func(key string) (*registry.Registrar, error) {
		return redis.NewRegistrar(cli, key, registry.WithBasePath(testBase))
	}
	a1 := serveRegistered(t, newReg, map[string]string{"Arith": "weight=2", "Calc": "group=b"})
	a2 := serveRegistered(t, newReg, map[string]string{"Arith": "weight=1"})

	checkRegistryBackend(t, "redis://"+rs.Addr()+testBase, a1, a2)
}

// TestRegistryRedisPassword reaches a Redis that requires a password with
// redis://:password@host and redis://default:password@host; a wrong one is a transport
// error.
func TestRegistryRedisPassword(t *testing.T) {
	t.Parallel()
	rs := realsvc.StartRedis(t)
	const pw = "s3cret"
	admin := redisClient(t, rs.Addr(), "")
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	// Set after start: realsvc's readiness check pings without a password. The admin's
	// connection stays authenticated.
	if err := admin.ConfigSet(ctx, "requirepass", pw).Err(); err != nil {
		t.Fatal(err)
	}
	cli := redisClient(t, rs.Addr(), pw)
	a := serveRegistered(t, func(key string) (*registry.Registrar, error) {
		return redis.NewRegistrar(cli, key, registry.WithBasePath(testBase))
	}, map[string]string{"Arith": "weight=7"})

	for _, userinfo := range []string{":" + pw, "default:" + pw} {
		base := "redis://" + userinfo + "@" + rs.Addr() + testBase
		t.Run(userinfo+" ls", func(t *testing.T) {
			r := runCLI(t, "", "registry", "ls", base)
			if r.code != 0 || !strings.Contains(r.stdout, "Arith (1 server)") || !strings.Contains(r.stdout, a+"  weight=7") {
				t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
		t.Run(userinfo+" call", func(t *testing.T) {
			r := runCLI(t, "", "call", base+"/Arith", "Arith.Mul", `{"A":6,"B":7}`)
			if r.code != 0 || !strings.Contains(r.stdout, `"C": 42`) {
				t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		r := runCLI(t, "", "registry", "ls", "redis://:guess@"+rs.Addr()+testBase, "--timeout", "2s")
		if r.code != exitTransport || r.stdout != "" || !strings.Contains(r.stderr, "WRONGPASS") {
			t.Errorf("exit %d, want %d; stdout %q, stderr %q", r.code, exitTransport, r.stdout, r.stderr)
		}
	})
	t.Run("no password", func(t *testing.T) {
		r := runCLI(t, "", "call", "redis://"+rs.Addr()+testBase+"/Arith", "Arith.Mul", `{"A":6,"B":7}`, "--connect-timeout", "1s")
		if r.code != exitTransport || r.stdout != "" {
			t.Fatalf("exit %d, want %d; stdout %q, stderr %q", r.code, exitTransport, r.stdout, r.stderr)
		}
		wantCause(t, r.stderr, "NOAUTH")
	})
}

// wantCause checks that a call's error names the registry's own error (cause), or says the
// registry did not answer before the command gave up (which of the two depends on the
// backend client's own timeouts), never the placeholder "not listed yet".
func wantCause(t *testing.T, stderr, cause string) {
	t.Helper()
	if strings.Contains(stderr, cause) || strings.Contains(stderr, "did not answer in time") {
		return
	}
	t.Errorf("stderr %q lacks the registry's error %q", stderr, cause)
}

// TestCallRegistryUnreachable: a call through a registry nobody serves fails with a
// transport error that says why.
func TestCallRegistryUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url, cause string }{
		{"zookeeper", "zookeeper://" + closedAddr(t) + "/x/Arith", "could not connect"},
		{"redis", "redis://" + closedAddr(t) + "/x/Arith", "registry/redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", "call", tt.url, "Arith.Mul", `{"A":1,"B":2}`, "--connect-timeout", "500ms")
			if r.code != exitTransport || r.stdout != "" {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", r.code, exitTransport, r.stdout, r.stderr)
			}
			wantCause(t, r.stderr, tt.cause)
		})
	}
}

// TestRegistryTransports calls, through a redis:// URL, servers registered with unix@,
// ws@, quic@ and kcp@ keys: the command dials each with the network of its registry entry
// (quic with the TLS that --ca sets up).
func TestRegistryTransports(t *testing.T) {
	t.Parallel()
	rs := realsvc.StartRedis(t)
	cli := redisClient(t, rs.Addr(), "")
	certs := conformance.NewCerts(t)
	ca := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", certs.CA.Raw)
	listen := func(t *testing.T, fn server.ListenFunc, network, address string) net.Listener {
		t.Helper()
		ln, err := fn(context.Background(), network, address, certs.ServerTLS())
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	tests := []struct {
		network string
		listen  func(t *testing.T) net.Listener
		opts    []server.Option
		flags   []string
	}{
		{"unix", func(t *testing.T) net.Listener {
			ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "reg.sock"))
			if err != nil {
				t.Fatal(err)
			}
			return ln
		}, nil, nil},
		{"ws", func(t *testing.T) net.Listener { return testsvc.Listen(t) }, nil, nil},
		{"quic", func(t *testing.T) net.Listener {
			return listen(t, briskquic.Listen(nil), "quic", "127.0.0.1:0")
		}, nil, []string{"--ca", ca}},
		{"kcp", func(t *testing.T) net.Listener {
			return listen(t, briskkcp.Listen(), "kcp", "127.0.0.1:0")
		}, nil, []string{"--ca", ca}}, // TLS over KCP: the listener wraps sessions
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			ln := tt.listen(t)
			key := tt.network + "@" + ln.Addr().String()
			service := "Arith_" + tt.network
			reg, err := redis.NewRegistrar(cli, key, registry.WithBasePath(testBase+"_transports"))
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			s := server.NewServer(append(tt.opts, server.WithRegistrar(reg))...)
			if err := s.RegisterName(service, testsvc.NewArith(), "net="+tt.network); err != nil {
				ln.Close()
				t.Fatal(err)
			}
			testsvc.ServeOn(t, s, ln)
			url := "redis://" + rs.Addr() + testBase + "_transports/" + service

			r := runCLI(t, "", "registry", "ls", url, "--json")
			var got []serviceJSON
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
				t.Fatalf("ls: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			want := serverJSON{Key: key, Network: tt.network, Address: ln.Addr().String(), Metadata: "net=" + tt.network}
			if len(got) != 1 || len(got[0].Servers) != 1 || got[0].Servers[0] != want {
				t.Errorf("ls: got %+v, want %s with %+v", got, service, want)
			}

			r = runCLI(t, "", append([]string{"call", url, service + ".Mul", `{"A":6,"B":7}`}, tt.flags...)...)
			if r.code != 0 || r.stdout != "{\n  \"C\": 42\n}\n" {
				t.Errorf("call: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}
