package ipfilter_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/plugin/ipfilter"
	"github.com/brisk-rpc/brisk/server"
)

func TestAllowed(t *testing.T) {
	tests := []struct {
		name        string
		allow, deny []string
		ip          string // "" for unknown
		want        bool
	}{
		{"empty lists accept all", nil, nil, "203.0.113.7", true},
		{"empty lists accept unknown", nil, nil, "", true},
		{"deny only", nil, []string{"10.0.0.0/8"}, "10.1.2.3", false},
		{"deny only, other address", nil, []string{"10.0.0.0/8"}, "11.1.2.3", true},
		{"allow list", []string{"10.0.0.0/8"}, nil, "10.1.2.3", true},
		{"allow list, other address", []string{"10.0.0.0/8"}, nil, "11.1.2.3", false},
		{"allow list refuses unknown", []string{"10.0.0.0/8"}, nil, "", false},
		{"deny wins over allow", []string{"10.0.0.0/8"}, []string{"10.9.0.0/16"}, "10.9.1.1", false},
		{"allowed beside the denied range", []string{"10.0.0.0/8"}, []string{"10.9.0.0/16"}, "10.8.1.1", true},
		{"deny wins for the same address", []string{"127.0.0.1"}, []string{"127.0.0.1"}, "127.0.0.1", false},
		{"single IPv4", []string{"127.0.0.1"}, nil, "127.0.0.2", false},
		{"IPv6 prefix", []string{"fd00::/8"}, nil, "fd12::1", true},
		{"IPv6 outside", []string{"fd00::/8"}, nil, "fe80::1", false},
		{"IPv6 loopback", []string{"::1"}, nil, "::1", true},
		{"IPv4 list, IPv6 caller", []string{"127.0.0.0/8"}, nil, "::1", false},
		{"mapped caller matches IPv4 entry", []string{"10.0.0.0/8"}, nil, "::ffff:10.1.2.3", true},
		{"mapped caller denied by IPv4 entry", nil, []string{"10.1.2.3"}, "::ffff:10.1.2.3", false},
		{"mapped entry matches IPv4 caller", []string{"::ffff:10.0.0.0/104"}, nil, "10.200.0.1", true},
		{"mapped single entry", nil, []string{"::ffff:192.0.2.1"}, "192.0.2.1", false},
		{"zone ignored", []string{"fe80::1"}, nil, "fe80::1%eth0", true},
		{"unmasked prefix", []string{"192.168.1.77/24"}, nil, "192.168.1.3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ipfilter.New(tt.allow, tt.deny)
			if err != nil {
				t.Fatal(err)
			}
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			if got := f.Allowed(ip); got != tt.want {
				t.Errorf("Allowed(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadEntries(t *testing.T) {
	for _, bad := range []string{"10.0.0.300", "10.0.0.0/33", "example.com", "", "::1/129"} {
		if _, err := ipfilter.New([]string{bad}, nil); err == nil {
			t.Errorf("New(allow %q) succeeded, want an error", bad)
		}
		if _, err := ipfilter.New(nil, []string{bad}); err == nil {
			t.Errorf("New(deny %q) succeeded, want an error", bad)
		}
	}
	f, err := ipfilter.New(nil, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Update([]string{"bad"}, nil); err == nil {
		t.Fatal("Update with a bad entry succeeded")
	}
	if f.Allowed(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("a failed Update changed the lists")
	}
}

func TestAddrIP(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string // "" for the zero Addr
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, "::1"},
		{&net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}, "10.0.0.1"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
		{nil, ""},
		{(*net.TCPAddr)(nil), ""},
	}
	for _, tt := range tests {
		got := ipfilter.AddrIP(tt.addr)
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.Unmap() != netip.MustParseAddr(tt.want)) {
			t.Errorf("AddrIP(%v) = %v, want %q", tt.addr, got, tt.want)
		}
	}
}

// serve starts an Arith server with opts on a listener of network at address.
func serve(t *testing.T, network, address string, opts ...server.Option) string {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, address, err)
	}
	s := server.NewServer(opts...)
	if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
		t.Fatal(err)
	}
	testsvc.ServeOn(t, s, ln)
	return ln.Addr().String()
}

func mul(addr string) error {
	c := client.NewClient(client.DefaultOption)
	defer c.Close()
	if err := c.Connect("tcp", addr); err != nil {
		return err
	}
	var r testsvc.Reply
	return c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 6, B: 7}, &r)
}

// httpGet makes one HTTP request to the server's gateway and reports whether any HTTP
// response came back.
func httpGet(t *testing.T, addr string) error {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: testsvc.Bound}).Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestConnHooksOverLoopback(t *testing.T) {
	tests := []struct {
		name        string
		network     string
		listen      string
		allow, deny []string
		accepted    bool
	}{
		{"127.0.0.1 allowed", "tcp4", "127.0.0.1:0", []string{"127.0.0.1"}, nil, true},
		{"127.0.0.1 allowed by prefix", "tcp4", "127.0.0.1:0", []string{"127.0.0.0/8"}, nil, true},
		{"127.0.0.1 denied", "tcp4", "127.0.0.1:0", nil, []string{"127.0.0.1"}, false},
		{"127.0.0.1 denied over allowed", "tcp4", "127.0.0.1:0", []string{"127.0.0.0/8"}, []string{"127.0.0.1/32"}, false},
		{"127.0.0.1 not in the allow list", "tcp4", "127.0.0.1:0", []string{"10.0.0.0/8"}, nil, false},
		{"::1 allowed", "tcp6", "[::1]:0", []string{"::1"}, nil, true},
		{"::1 denied", "tcp6", "[::1]:0", nil, []string{"::1/128"}, false},
		{"::1 not in an IPv4 allow list", "tcp6", "[::1]:0", []string{"127.0.0.1"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ipfilter.New(tt.allow, tt.deny)
			if err != nil {
				t.Fatal(err)
			}
			var closed atomic.Int64
			counter := server.ConnHooks{Closed: func(net.Conn) { closed.Add(1) }}
			addr := serve(t, tt.network, tt.listen, server.WithConnHooks(f.ConnHooks()), server.WithConnHooks(counter))
			nativeErr, httpErr := mul(addr), httpGet(t, addr)
			if tt.accepted {
				if nativeErr != nil || httpErr != nil {
					t.Fatalf("allowed caller: native %v, HTTP %v", nativeErr, httpErr)
				}
				if f.Refused() != 0 {
					t.Fatalf("Refused() = %d, want 0", f.Refused())
				}
				return
			}
			if nativeErr == nil || client.IsServiceError(nativeErr) {
				t.Fatalf("denied native caller: %v, want a transport error", nativeErr)
			}
			if httpErr == nil {
				t.Fatal("denied HTTP caller got a response")
			}
			if got := f.Refused(); got != 2 {
				t.Fatalf("Refused() = %d, want 2 (one native, one HTTP connection)", got)
			}
			if got := closed.Load(); got != 0 {
				t.Fatalf("a later hook was told of %d refused connections, want 0", got)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	var reached atomic.Int64
	count := func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			reached.Add(1)
			return next(ctx, inv)
		}
	}
	f, err := ipfilter.New(nil, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, addr := testsvc.NewArithServer(t, server.WithMiddleware(f.Middleware(), count))
	c := testsvc.Connect(t, addr, client.DefaultOption)
	var r testsvc.Reply
	for range 5 {
		err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &r)
		if !client.IsServiceError(err) || !strings.HasPrefix(err.Error(), ipfilter.TextDenied) {
			t.Fatalf("denied call: %v, want a ServiceError %q", err, ipfilter.TextDenied)
		}
	}
	if err := f.Update([]string{"127.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 2, B: 3}, &r); err != nil || r.C != 6 {
		t.Fatalf("after Update allowed 127.0.0.0/8: %d, %v", r.C, err)
	}
	if reached.Load() != 1 || f.Refused() != 5 {
		t.Fatalf("handler reached %d times, Refused() %d; want 1 and 5", reached.Load(), f.Refused())
	}
}

func TestMiddlewareUnknownAddress(t *testing.T) {
	for _, allow := range [][]string{nil, {"127.0.0.1"}} {
		f, err := ipfilter.New(allow, nil)
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		h := f.Middleware()(func(context.Context, *server.Invocation) error { ran = true; return nil })
		err = h(context.Background(), &server.Invocation{ServicePath: "Arith", ServiceMethod: "Mul"})
		if want := len(allow) == 0; ran != want || (err == nil) != want {
			t.Errorf("allow %v, no address: ran %v, err %v", allow, ran, err)
		}
		if err != nil && !errors.Is(err, ipfilter.ErrDenied) {
			t.Errorf("err %v does not wrap ErrDenied", err)
		}
	}
}
