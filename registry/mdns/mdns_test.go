package mdns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/zeroconf/v2"
	"github.com/miekg/dns"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/registrytest"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/mdns"
	"github.com/brisk-rpc/brisk/server"
)

// serverEnv makes the test binary run a brisk server advertised over mDNS instead of the
// tests: "service,host:port".
const serverEnv = "BRISK_MDNS_TEST_SERVER"

const (
	ttl     = 2 * time.Second
	refresh = 500 * time.Millisecond
)

// loopback returns the loopback interface, which the tests use alone; it skips (or fails
// under make test) when lo cannot carry multicast.
func loopback(t testing.TB) net.Interface {
	t.Helper()
	lo, err := findLoopback()
	if err == nil && (lo.Flags&net.FlagUp == 0 || lo.Flags&net.FlagMulticast == 0) {
		err = fmt.Errorf("%s is not up and multicast-capable", lo.Name)
	}
	if err != nil {
		// As realsvc.Missing, with a hint that fits: there is nothing to install.
		msg := fmt.Sprintf("no multicast-capable loopback interface (%v); run the tests as root on Linux and they make one in their own network namespace",
			errors.Join(err, netnsErr))
		if os.Getenv(realsvc.RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return lo
}

func findLoopback() (net.Interface, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return net.Interface{}, err
	}
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi, nil
		}
	}
	return net.Interface{}, errors.New("no loopback interface")
}

func options(lo net.Interface) []mdns.Option {
	return []mdns.Option{
		mdns.WithInterfaces(lo),
		mdns.WithRegistryOptions(registry.WithTTL(ttl), registry.WithRefreshInterval(refresh),
			registry.WithBackoff(50*time.Millisecond, 500*time.Millisecond), registry.WithTimeout(2*time.Second)),
	}
}

// startServer serves a fresh Arith as each of services (name -> metadata, registered in
// order of names) with an mDNS registrar, until the test ends.
func startServer(t *testing.T, lo net.Interface, services ...string) (*server.Server, *registry.Registrar, string) {
	t.Helper()
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	r, err := mdns.NewRegistrar(addr, options(lo)...)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(r))
	for i := 0; i+1 < len(services); i += 2 {
		if err := s.RegisterName(services[i], testsvc.NewArith(), services[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	testsvc.ServeOn(t, s, ln)
	return s, r, addr
}

func newDiscovery(t testing.TB, lo net.Interface, service string, opts ...registry.Option) *registry.Discovery {
	t.Helper()
	return registrytest.MustDiscovery(t)(mdns.NewDiscovery(service, append(options(lo), mdns.WithRegistryOptions(opts...))...))
}

func listIs(d *registry.Discovery, want ...string) func() bool {
	return func() bool {
		return d.Err() == nil && strings.Join(registrytest.Keys(d.Servers()), " ") == strings.Join(want, " ")
	}
}

// endpoints returns a condition: x uses n servers (it follows the Discovery asynchronously).
func endpoints(x *client.XClient, n int) func() bool {
	return func() bool { return len(x.Endpoints()) == n }
}

func call(t *testing.T, x *client.XClient) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()
	var reply testsvc.Reply
	err := x.Call(ctx, "Mul", &testsvc.Args{A: 6, B: 7}, &reply)
	if err == nil && reply.C != 42 {
		t.Fatalf("Mul(6, 7) = %d", reply.C)
	}
	return err
}

// browse collects what the official zeroconf client receives for ServiceType within d,
// keyed by instance name (the last entry of each wins).
func browse(t *testing.T, lo net.Interface, d time.Duration) map[string]*zeroconf.ServiceEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry, 16)
	got := make(map[string]*zeroconf.ServiceEntry)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range entries {
			got[e.Instance] = e
		}
	}()
	if err := zeroconf.Browse(ctx, mdns.ServiceType, "local.", entries, zeroconf.SelectIfaces([]net.Interface{lo}),
		zeroconf.SelectIPTraffic(zeroconf.IPv4)); err != nil {
		t.Fatalf("browse: %v", err)
	}
	<-done
	return got
}

// browseFor browses until an instance advertising address shows up with a TXT record
// for which ok holds, and returns it.
func browseFor(t *testing.T, lo net.Interface, address string, ok func([]string) bool) *zeroconf.ServiceEntry {
	t.Helper()
	deadline := time.Now().Add(testsvc.Bound)
	for time.Now().Before(deadline) {
		for _, e := range browse(t, lo, 300*time.Millisecond) {
			if strings.Contains(strings.Join(e.Text, ""), url.QueryEscape(address)) && ok(e.Text) {
				return e
			}
		}
	}
	t.Fatalf("no mDNS answer advertising %s", address)
	return nil
}

func hostPort(t *testing.T, address string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(strings.TrimPrefix(address, "tcp@"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// backend is mDNS for registrytest.Run, on the loopback interface. The registry cannot be
// stopped, and an in-process registrar cannot crash: TestBrowseFailureKeepsList and
// TestCrashedServerExpires test those here.
var backend = registrytest.Backend{Start: func(t *testing.T) *registrytest.Registry {
	lo := loopback(t)
	return &registrytest.Registry{
		NewRegistrar: func(t testing.TB, address string) *registry.Registrar {
			t.Helper()
			return registrytest.MustRegistrar(t)(mdns.NewRegistrar(address, options(lo)...))
		},
		NewDiscovery: func(t testing.TB, service string, opts ...registry.Option) *registry.Discovery {
			return newDiscovery(t, lo, service, opts...)
		},
	}
}}

// TestSuite runs the behaviours every backend shares over mDNS on the loopback interface.
func TestSuite(t *testing.T) { registrytest.Run(t, backend) }

// TestLayout reads the records a registered server answers with through the zeroconf
// client and checks rpcx's layout: service type, domain, instance, port, and one TXT string
// holding the URL-query-escaped JSON array of every service of the server.
func TestLayout(t *testing.T) {
	lo := loopback(t)
	_, _, addr := startServer(t, lo, "LayoutArith", "weight=2&group=a", "LayoutEcho", "")
	host, port := hostPort(t, addr)

	e := browseFor(t, lo, addr, func(txt []string) bool { return strings.Contains(txt[0], "LayoutEcho") })
	if e.Service != mdns.ServiceType || e.Domain != "local." {
		t.Errorf("service type %q domain %q, want %q %q", e.Service, e.Domain, mdns.ServiceType, "local.")
	}
	hostname, _ := os.Hostname()
	hostname, _, _ = strings.Cut(hostname, ".")
	wantInstance := strings.NewReplacer(".", "-", ":", "-").Replace(fmt.Sprintf("%s-%s-%d", hostname, host, port))
	if e.Instance != wantInstance {
		t.Errorf("instance %q, want %q", e.Instance, wantInstance)
	}
	if e.Port != port || e.HostName != wantInstance+".local." {
		t.Errorf("SRV %s:%d, want %s.local.:%d", e.HostName, e.Port, wantInstance, port)
	}
	if len(e.AddrIPv4) != 1 || e.AddrIPv4[0].String() != host {
		t.Errorf("A records %v, want %s", e.AddrIPv4, host)
	}
	if left := time.Until(e.Expiry); left <= 0 || left > ttl {
		t.Errorf("record TTL %v, want the registrar's TTL %v", left, ttl)
	}
	// json.Marshal escapes '&' as \u0026, as rpcx's encoder (the same call) does.
	wantJSON := `[{"service":"LayoutArith","meta":"weight=2\u0026group=a","service_address":"` + addr + `"},` +
		`{"service":"LayoutEcho","service_address":"` + addr + `"}]`
	if len(e.Text) != 1 || e.Text[0] != url.QueryEscape(wantJSON) {
		t.Fatalf("TXT %q, want the one string %q", e.Text, url.QueryEscape(wantJSON))
	}
	// Decoded as an rpcx client does: unescape the first string, unmarshal the array.
	s, err := url.QueryUnescape(e.Text[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"service": "LayoutArith", "meta": "weight=2&group=a", "service_address": addr},
		{"service": "LayoutEcho", "service_address": addr},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TXT array %v, want %v", got, want)
	}
}

// listenMDNS returns the mDNS messages multicast on lo from now on.
func listenMDNS(t *testing.T, lo net.Interface) <-chan *dns.Msg {
	t.Helper()
	conn, err := net.ListenMulticastUDP("udp4", &lo, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *dns.Msg, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil {
				select {
				case msgs <- m:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs
}

// TestShutdownSaysGoodbye checks that a clean shutdown multicasts the goodbye (TTL 0)
// records at once, that the server stops answering, and that clients drop it a second
// later (RFC 6762 10.1), long before the TTL.
func TestShutdownSaysGoodbye(t *testing.T) {
	lo := loopback(t)
	s, _, addr := startServer(t, lo, "ByeArith", "")
	const longTTL = 30 * time.Second
	d := newDiscovery(t, lo, "ByeArith", registry.WithTTL(longTTL))
	testsvc.Eventually(t, "the server is discovered", listIs(d, addr))
	instance := browseFor(t, lo, addr, func([]string) bool { return true }).Instance

	msgs := listenMDNS(t, lo)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testsvc.Bound)
	for goodbye := false; !goodbye; {
		select {
		case m := <-msgs:
			for _, rr := range m.Answer {
				if srv, ok := rr.(*dns.SRV); ok && strings.HasPrefix(srv.Hdr.Name, instance+".") && srv.Hdr.Ttl == 0 {
					goodbye = true
				}
			}
		case <-deadline:
			t.Fatal("no goodbye record was multicast")
		}
	}
	if got := browse(t, lo, 300*time.Millisecond); got[instance] != nil {
		t.Errorf("the server still answers after Shutdown: %v", got[instance])
	}
	start := time.Now()
	testsvc.Eventually(t, "the server is dropped", listIs(d))
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("dropped after %v, want about a second after the goodbye (TTL %v)", waited, longTTL)
	}
}

// TestBrowseFailureKeepsList is the mDNS form of "the registry goes away": with no usable
// interface (lo loses its multicast flag) the client cannot browse, reports it through
// Err, keeps its last list and still calls the known server; when multicast is back, a
// server that registered meanwhile is discovered.
func TestBrowseFailureKeepsList(t *testing.T) {
	lo := loopback(t)
	if !inOwnNetns() {
		t.Skip("changes lo's flags, so it runs only in the tests' own network namespace (as root)")
	}
	_, _, addrA := startServer(t, lo, "FaultArith", "")
	d := newDiscovery(t, lo, "FaultArith")
	x := client.NewXClient("FaultArith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	testsvc.Eventually(t, "server A is discovered", listIs(d, addrA))
	testsvc.Eventually(t, "the client uses it", endpoints(x, 1))

	if err := setLinkFlags(lo.Name, 0, syscall.IFF_MULTICAST); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := setLinkFlags(lo.Name, syscall.IFF_MULTICAST, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(restore)
	testsvc.Eventually(t, "Err reports the browse failure", func() bool { return d.Err() != nil })
	if got := registrytest.Keys(d.Servers()); len(got) != 1 || got[0] != addrA {
		t.Fatalf("list %v while browsing fails, want the last one [%s]", got, addrA)
	}
	if err := call(t, x); err != nil {
		t.Fatalf("calling the known server while browsing fails: %v", err)
	}
	// Well past the TTL: the list is kept, not expired, while nothing can be heard.
	time.Sleep(ttl + refresh) // the assertion is about time passing; nothing to wait on
	if got := registrytest.Keys(d.Servers()); len(got) != 1 || d.Err() == nil {
		t.Fatalf("list %v err %v after the TTL without browsing", got, d.Err())
	}

	restore()
	_, _, addrB := startServer(t, lo, "FaultArith", "")
	want := []string{addrA, addrB}
	if addrB < addrA {
		want = []string{addrB, addrA}
	}
	testsvc.Eventually(t, "both servers after multicast is back", listIs(d, want...))
}

// runHelperServer serves Arith as spec's service on spec's address, advertised over mDNS on
// lo, until the process is killed.
func runHelperServer(spec string) int {
	service, addr, _ := strings.Cut(spec, ",")
	lo, err := findLoopback()
	if err == nil {
		var r *registry.Registrar
		if r, err = mdns.NewRegistrar("tcp@"+addr, options(lo)...); err == nil {
			s := server.NewServer(server.WithRegistrar(r))
			if err = s.RegisterName(service, testsvc.NewArith(), ""); err == nil {
				err = s.Serve("tcp", addr)
			}
		}
	}
	fmt.Fprintln(os.Stderr, "helper server:", err)
	return 1
}

// TestCrashedServerExpires kills a server process (no goodbye, no more answers): clients
// drop it once the TTL has passed since its last answer and stop calling it.
func TestCrashedServerExpires(t *testing.T) {
	lo := loopback(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := realsvc.HostPort(realsvc.FreePort(t))
	p := realsvc.NewProcess(t, "mdns-server", addr, []string{exe, "-test.run=^$"},
		[]string{serverEnv + "=CrashArith," + addr}, func(ctx context.Context) error {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		})
	p.Start()
	d := newDiscovery(t, lo, "CrashArith")
	x := client.NewXClient("CrashArith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer x.Close()
	testsvc.Eventually(t, "the server is discovered", listIs(d, "tcp@"+addr))
	testsvc.Eventually(t, "the client uses it", endpoints(x, 1))
	if err := call(t, x); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	start := time.Now()
	testsvc.Eventually(t, "the crashed server expires", listIs(d))
	if waited := time.Since(start); waited > ttl+4*refresh {
		t.Errorf("expired after %v, want within TTL %v + refresh", waited, ttl)
	}
	testsvc.Eventually(t, "the client stops using it", endpoints(x, 0))
	if err := call(t, x); err == nil {
		t.Fatal("a call succeeded with no server")
	}
}

// TestBurst changes a server's services many times in a row: the client ends with the
// final state.
func TestBurst(t *testing.T) {
	lo := loopback(t)
	_, r, addr := startServer(t, lo, "BurstArith", "")
	d := newDiscovery(t, lo, "BurstArith", registry.WithDiscoveryOptions(discovery.WithInactive()))
	testsvc.Eventually(t, "the server is discovered", listIs(d, addr))
	ctx := context.Background()
	for i := 1; i <= 20; i++ {
		if err := r.Register(ctx, "BurstArith", "weight="+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if err := r.Register(ctx, fmt.Sprintf("BurstOther%d", i%3), "n="+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if err := r.SetInactive(ctx, i%2 == 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Unregister(ctx, "BurstOther0"); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the final state", func() bool {
		l := d.Servers()
		return len(l) == 1 && l[0].RawMetadata == "weight=20"
	})
	e := browseFor(t, lo, addr, func(txt []string) bool { return strings.Contains(txt[0], "weight%3D20") })
	s, _ := url.QueryUnescape(strings.Join(e.Text, ""))
	want := fmt.Sprintf(`[{"service":"BurstArith","meta":"weight=20","service_address":"%[1]s"},`+
		`{"service":"BurstOther1","meta":"n=19","service_address":"%[1]s"},`+
		`{"service":"BurstOther2","meta":"n=20","service_address":"%[1]s"}]`, addr)
	if s != want {
		t.Errorf("final TXT %s, want %s", s, want)
	}
}

// TestInvalidInput checks the constructors' validation.
func TestInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"empty address", func() error { _, err := mdns.NewRegistrar(""); return err }()},
		{"unix address", func() error { _, err := mdns.NewRegistrar("unix@/tmp/x.sock"); return err }()},
		{"zero port", func() error { _, err := mdns.NewRegistrar("tcp@127.0.0.1:0"); return err }()},
		{"bad domain", func() error { _, err := mdns.NewRegistrar("tcp@127.0.0.1:1", mdns.WithDomain("a b")); return err }()},
		{"bad service", func() error { _, err := mdns.NewDiscovery("a/b"); return err }()},
		{"bad discovery domain", func() error { _, err := mdns.NewDiscovery("Arith", mdns.WithDomain("..x")); return err }()},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
