package discovery_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
)

var _ discovery.Resolver = net.DefaultResolver

type answer struct {
	ips []string
	err error
}

// fakeResolver hands each lookup to the test: a lookup sends a reply channel on calls and
// returns what the test sends back. Receiving from calls thus also tells the test that the
// previous lookup's result has been published.
type fakeResolver struct {
	calls chan chan answer
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{calls: make(chan chan answer)}
}

func (f *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	reply := make(chan answer)
	select {
	case f.calls <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var a answer
	select {
	case a = <-reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var addrs []net.IPAddr
	for _, s := range a.ips {
		ip, zone, _ := strings.Cut(s, "%")
		addrs = append(addrs, net.IPAddr{IP: net.ParseIP(ip), Zone: zone})
	}
	return addrs, a.err
}

// answerNext waits for the next lookup and answers it.
func (f *fakeResolver) answerNext(a answer) {
	(<-f.calls) <- a
}

// newTestDNS starts a DNS discovery of service.test:8972 over tcp with the fake resolver,
// answering its first lookup.
func newTestDNS(t *testing.T, f *fakeResolver, first answer, opts ...discovery.Option) *discovery.DNS {
	t.Helper()
	return startDNS(t, f, first, "", 8972, time.Millisecond, opts...)
}

func startDNS(t *testing.T, f *fakeResolver, first answer, network string, port int, interval time.Duration, opts ...discovery.Option) *discovery.DNS {
	t.Helper()
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		f.answerNext(first)
	}()
	d, err := discovery.NewDNS("service.test", port, network, interval, append(opts, discovery.WithResolver(f))...)
	<-answered
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDNSChanges(t *testing.T) {
	f := newFakeResolver()
	d := newTestDNS(t, f, answer{ips: []string{"10.0.0.2", "10.0.0.1"}}, discovery.WithMetadata("weight=4"))
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()
	got := recv(t, ch)
	if !reflect.DeepEqual(keys(got), []string{"tcp@10.0.0.1:8972", "tcp@10.0.0.2:8972"}) {
		t.Fatalf("first list = %v", keys(got))
	}
	if got[0].Network != "tcp" || got[0].Address != "10.0.0.1:8972" || got[0].Weight != 4 || got[0].RawMetadata != "weight=4" {
		t.Errorf("server = %+v", got[0])
	}
	if d.Err() != nil {
		t.Errorf("Err = %v", d.Err())
	}

	// The same addresses in another order, and duplicated: no change.
	f.answerNext(answer{ips: []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"}})
	f.answerNext(answer{ips: []string{"10.0.0.1", "10.0.0.2"}})
	<-f.calls // both answers published: the next lookup has started
	noRecv(t, ch)
}

func TestDNSChangeAndErrors(t *testing.T) {
	f := newFakeResolver()
	d := newTestDNS(t, f, answer{ips: []string{"10.0.0.1"}})
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()
	recv(t, ch)

	reply := <-f.calls
	reply <- answer{ips: []string{"10.0.0.1", "::1", "fe80::1%eth0"}}
	reply = <-f.calls
	want := []string{"tcp@10.0.0.1:8972", "tcp@[::1]:8972", "tcp@[fe80::1%eth0]:8972"}
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, want) {
		t.Errorf("after a change: %v, want %v", got, want)
	}

	// A failed lookup keeps the list and is reported by Err.
	errNX := errors.New("no such host")
	reply <- answer{err: errNX}
	reply = <-f.calls
	if !errors.Is(d.Err(), errNX) {
		t.Errorf("Err = %v, want %v", d.Err(), errNX)
	}
	if got := keys(d.Servers()); !reflect.DeepEqual(got, want) {
		t.Errorf("after a failed lookup: %v", got)
	}
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, want) { // re-delivered: health changed
		t.Errorf("re-delivered list: %v", got)
	}
	reply <- answer{err: errNX}
	reply = <-f.calls
	noRecv(t, ch)

	// Recovery with an empty answer is believed.
	reply <- answer{}
	<-f.calls
	if d.Err() != nil || len(d.Servers()) != 0 {
		t.Errorf("after recovery: %v, %v", d.Err(), keys(d.Servers()))
	}
	if got := recv(t, ch); len(got) != 0 {
		t.Errorf("after recovery: %v", keys(got))
	}
}

func TestDNSFirstLookupFails(t *testing.T) {
	f := newFakeResolver()
	d := newTestDNS(t, f, answer{err: errors.New("timeout")})
	defer d.Close()
	if d.Err() == nil || len(d.Servers()) != 0 {
		t.Errorf("after a failed first lookup: %v, %v", d.Err(), keys(d.Servers()))
	}
	ch, stop := d.Watch()
	defer stop()
	recv(t, ch)
	f.answerNext(answer{ips: []string{"10.0.0.1"}})
	<-f.calls
	if got := keys(recv(t, ch)); len(got) != 1 {
		t.Errorf("after a good lookup: %v", got)
	}
}

// TestDNSCloseDuringLookup closes while a lookup waits for its answer: Close cancels it.
func TestDNSCloseDuringLookup(t *testing.T) {
	f := newFakeResolver()
	d := newTestDNS(t, f, answer{ips: []string{"10.0.0.1"}})
	ch, _ := d.Watch()
	recv(t, ch)
	<-f.calls // a lookup is in progress and is never answered
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, ch)
	if d.Err() != nil || len(d.Servers()) != 1 {
		t.Errorf("after Close: %v, %v", d.Err(), keys(d.Servers()))
	}
}

func TestDNSNetworkAndFilters(t *testing.T) {
	tests := []struct {
		group string
		want  []string
	}{
		{"a", []string{"quic@10.0.0.1:9000"}},
		{"b", nil},
	}
	for _, tt := range tests {
		f := newFakeResolver()
		d := startDNS(t, f, answer{ips: []string{"10.0.0.1"}}, "quic", 9000, time.Hour,
			discovery.WithMetadata("group=a"), discovery.WithGroup(tt.group))
		if got := keys(d.Servers()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("WithGroup(%q): %v, want %v", tt.group, got, tt.want)
		}
		d.Close()
	}
}

func TestNewDNSErrors(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		port     int
		network  string
		interval time.Duration
		opts     []discovery.Option
	}{
		{"empty name", "", 80, "tcp", time.Second, nil},
		{"port 0", "x", 0, "tcp", time.Second, nil},
		{"port too big", "x", 65536, "tcp", time.Second, nil},
		{"zero interval", "x", 80, "tcp", 0, nil},
		{"unix", "x", 80, "unix", time.Second, nil},
		{"bad network", "x", 80, "t@p", time.Second, nil},
		{"bad metadata", "x", 80, "tcp", time.Second, []discovery.Option{discovery.WithMetadata("weight=-3")}},
	}
	for _, tt := range tests {
		// The resolver must not be used: its first call would block forever.
		d, err := discovery.NewDNS(tt.host, tt.port, tt.network, tt.interval, append(tt.opts, discovery.WithResolver(newFakeResolver()))...)
		if err == nil {
			d.Close()
			t.Errorf("%s: no error", tt.name)
		}
	}
}
