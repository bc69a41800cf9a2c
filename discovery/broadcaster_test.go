package discovery_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/discovery"
)

// recv returns the list waiting on ch, failing if there is none: Broadcaster delivers before
// Set or Watch returns, so a test never has to wait.
func recv(t *testing.T, ch <-chan []discovery.Server) []discovery.Server {
	t.Helper()
	select {
	case list, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return list
	default:
		t.Fatal("no list waiting")
		return nil
	}
}

// noRecv fails if a list is waiting on ch.
func noRecv(t *testing.T, ch <-chan []discovery.Server) {
	t.Helper()
	select {
	case list, ok := <-ch:
		t.Fatalf("unexpected delivery %v (open: %v)", keys(list), ok)
	default:
	}
}

// closed fails unless ch is closed and empty.
func closed(t *testing.T, ch <-chan []discovery.Server) {
	t.Helper()
	select {
	case list, ok := <-ch:
		if ok {
			t.Fatalf("channel open, holding %v", keys(list))
		}
	default:
		t.Fatal("channel not closed")
	}
}

func TestBroadcasterWatchGetsCurrentList(t *testing.T) {
	var b discovery.Broadcaster // the zero value is ready
	defer b.Close()
	ch, stop := b.Watch()
	defer stop()
	if got := recv(t, ch); len(got) != 0 {
		t.Errorf("first list = %v, want empty", keys(got))
	}
	b.Set(servers(t, "tcp@10.0.0.1:1", ""))
	ch2, stop2 := b.Watch()
	defer stop2()
	if got := keys(recv(t, ch2)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Errorf("first list of a later watch = %v", got)
	}
}

func TestBroadcasterCoalesces(t *testing.T) {
	b := discovery.NewBroadcaster()
	defer b.Close()
	ch, stop := b.Watch()
	defer stop()
	recv(t, ch)
	for i := 1; i <= 100; i++ {
		b.Set(servers(t, fmt.Sprintf("tcp@10.0.0.1:%d", i), ""))
	}
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:100"}) {
		t.Errorf("slow reader got %v, want the latest list", got)
	}
	noRecv(t, ch)
}

// TestBroadcasterConcurrentSlowReader checks that a reader racing with a writer sees lists
// in order and always ends with the last one.
func TestBroadcasterConcurrentSlowReader(t *testing.T) {
	b := discovery.NewBroadcaster()
	defer b.Close()
	const n = 300
	var all []discovery.Server
	for i := 1; i <= n; i++ {
		all = append(all, servers(t, fmt.Sprintf("tcp@10.0.0.1:%d", i), "")...)
	}
	readers := make([]<-chan []discovery.Server, 4)
	for i := range readers {
		ch, stop := b.Watch()
		defer stop()
		readers[i] = ch
	}
	done := make(chan error, len(readers))
	for _, ch := range readers {
		go func() {
			last := 0
			for list := range ch {
				if len(list) < last {
					done <- fmt.Errorf("list of %d after a list of %d", len(list), last)
					return
				}
				last = len(list)
				if last == n {
					done <- nil
					return
				}
			}
			done <- errors.New("channel closed before the last list")
		}()
	}
	for i := 1; i <= n; i++ {
		b.Set(all[:i])
	}
	for range readers {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestBroadcasterSet(t *testing.T) {
	b := discovery.NewBroadcaster()
	defer b.Close()
	ch, stop := b.Watch()
	defer stop()
	recv(t, ch)

	list := servers(t, "tcp@10.0.0.2:1", "", "tcp@10.0.0.1:1", "weight=2", "tcp@10.0.0.2:1", "weight=9")
	if !b.Set(list) {
		t.Fatal("Set of a new list reported no change")
	}
	got := recv(t, ch)
	if !reflect.DeepEqual(keys(got), []string{"tcp@10.0.0.1:1", "tcp@10.0.0.2:1"}) || got[1].Weight != 1 {
		t.Errorf("list = %+v; want sorted, first of each key kept", got)
	}
	// Set must not keep the caller's slice, and Servers and deliveries are copies.
	list[0].Key = "changed"
	got[0].Key = "changed"
	b.Servers()[0].Key = "changed"
	if k := keys(b.Servers()); !reflect.DeepEqual(k, []string{"tcp@10.0.0.1:1", "tcp@10.0.0.2:1"}) {
		t.Errorf("list changed through a copy: %v", k)
	}

	if b.Set(servers(t, "tcp@10.0.0.1:1", "weight=2", "tcp@10.0.0.2:1", "")) {
		t.Error("Set of the same list (in another order) reported a change")
	}
	noRecv(t, ch)
	if !b.Set(servers(t, "tcp@10.0.0.1:1", "weight=3", "tcp@10.0.0.2:1", "")) {
		t.Error("Set with changed metadata reported no change")
	}
	if got := recv(t, ch); got[0].Weight != 3 {
		t.Errorf("weight = %d, want 3", got[0].Weight)
	}
	if !b.Set(nil) || len(recv(t, ch)) != 0 {
		t.Error("Set(nil) did not deliver an empty list")
	}
}

func TestBroadcasterFilters(t *testing.T) {
	list := servers(t,
		"tcp@10.0.0.1:1", "group=a",
		"tcp@10.0.0.2:1", "group=a&group=b&state=inactive",
		"tcp@10.0.0.3:1", "group=b&weight=5",
		"tcp@10.0.0.4:1", "",
	)
	heavy := func(s discovery.Server) bool { return s.Weight > 1 }
	tests := []struct {
		name string
		opts []discovery.Option
		want []string
	}{
		{"default drops inactive", nil, []string{"tcp@10.0.0.1:1", "tcp@10.0.0.3:1", "tcp@10.0.0.4:1"}},
		{"group", []discovery.Option{discovery.WithGroup("a")}, []string{"tcp@10.0.0.1:1"}},
		{"empty group keeps all", []discovery.Option{discovery.WithGroup("")}, []string{"tcp@10.0.0.1:1", "tcp@10.0.0.3:1", "tcp@10.0.0.4:1"}},
		{"group with inactive", []discovery.Option{discovery.WithGroup("a"), discovery.WithInactive()}, []string{"tcp@10.0.0.1:1", "tcp@10.0.0.2:1"}},
		{"unknown group", []discovery.Option{discovery.WithGroup("c")}, nil},
		{"custom filter", []discovery.Option{discovery.WithFilter(heavy), nil, discovery.WithFilter(nil)}, []string{"tcp@10.0.0.3:1"}},
		{"filters combine", []discovery.Option{discovery.WithFilter(heavy), discovery.WithGroup("a")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := discovery.NewBroadcaster(tt.opts...)
			defer b.Close()
			b.Set(list)
			if got := keys(b.Servers()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterApply(t *testing.T) {
	list := servers(t, "tcp@10.0.0.1:1", "group=a&state=inactive", "tcp@10.0.0.2:1", "group=b")
	if got := keys(discovery.Filter(discovery.Active).Apply(list)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.2:1"}) {
		t.Errorf("Active: %v", got)
	}
	if got := keys(discovery.InGroup("a").Apply(list)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Errorf("InGroup: %v", got)
	}
	if got := discovery.Filter(nil).Apply(list); len(got) != 2 {
		t.Errorf("nil Filter kept %v", keys(got))
	}
}

func TestBroadcasterSetErr(t *testing.T) {
	b := discovery.NewBroadcaster()
	defer b.Close()
	b.Set(servers(t, "tcp@10.0.0.1:1", ""))
	ch, stop := b.Watch()
	defer stop()
	recv(t, ch)

	errDown := errors.New("registry down")
	b.SetErr(errDown)
	if !errors.Is(b.Err(), errDown) {
		t.Errorf("Err = %v", b.Err())
	}
	if got := keys(recv(t, ch)); len(got) != 1 {
		t.Errorf("becoming unhealthy delivered %v, want the same list again", got)
	}
	b.SetErr(errors.New("still down"))
	noRecv(t, ch)
	b.SetErr(nil)
	if b.Err() != nil || len(recv(t, ch)) != 1 {
		t.Error("recovering did not deliver the list again")
	}
	b.SetErr(nil)
	noRecv(t, ch)
}

func TestBroadcasterStop(t *testing.T) {
	b := discovery.NewBroadcaster()
	defer b.Close()
	ch1, stop1 := b.Watch()
	ch2, stop2 := b.Watch()
	defer stop2()
	recv(t, ch1)
	recv(t, ch2)
	stop1()
	stop1()
	closed(t, ch1)
	b.Set(servers(t, "tcp@10.0.0.1:1", ""))
	if len(recv(t, ch2)) != 1 {
		t.Error("other watcher not notified")
	}
}

func TestBroadcasterClose(t *testing.T) {
	b := discovery.NewBroadcaster()
	b.Set(servers(t, "tcp@10.0.0.1:1", ""))
	ch1, stop1 := b.Watch()
	ch2, stop2 := b.Watch()
	recv(t, ch2)
	done := b.Done()
	select {
	case <-done:
		t.Fatal("Done closed before Close")
	default:
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	<-done
	<-b.Done()
	if got := keys(<-ch1); len(got) != 1 { // an unread list stays readable
		t.Errorf("unread list = %v", got)
	}
	closed(t, ch1)
	closed(t, ch2)
	stop1()
	stop2()

	ch3, stop3 := b.Watch()
	closed(t, ch3)
	stop3()
	if b.Set(nil) {
		t.Error("Set after Close reported a change")
	}
	b.SetErr(errors.New("x"))
	if b.Err() != nil {
		t.Error("SetErr after Close recorded an error")
	}
	if len(b.Servers()) != 1 {
		t.Error("Servers after Close lost the last list")
	}
}

func TestCloseBeforeWatch(t *testing.T) {
	var b discovery.Broadcaster
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	<-b.Done()
	ch, stop := b.Watch()
	closed(t, ch)
	stop()
}

func TestStaticDiscoveries(t *testing.T) {
	p2p, err := discovery.NewPeer2Peer("tcp@127.0.0.1:8972", "weight=2")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@127.0.0.1:8972", Value: "weight=2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []discovery.Discovery{p2p, ms} {
		name := fmt.Sprintf("%T", d)
		ch, stop := d.Watch()
		got := recv(t, ch)
		if len(got) != 1 || got[0].Key != "tcp@127.0.0.1:8972" || got[0].Weight != 2 {
			t.Errorf("%s: list %+v", name, got)
		}
		if !reflect.DeepEqual(got, d.Servers()) {
			t.Errorf("%s: Servers differs from the watch", name)
		}
		stop()
		stop()
		closed(t, ch)
		ch, _ = d.Watch()
		recv(t, ch)
		if err := d.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("%s: second Close: %v", name, err)
		}
		closed(t, ch)
	}
}

func TestNewPeer2Peer(t *testing.T) {
	tests := []struct {
		addr, md string
		opts     []discovery.Option
		want     []string
		wantErr  string
	}{
		{addr: "127.0.0.1:8972", want: []string{"tcp@127.0.0.1:8972"}},
		{addr: "unix@/run/app.sock", md: "group=a", opts: []discovery.Option{discovery.WithGroup("a")}, want: []string{"unix@/run/app.sock"}},
		{addr: "tcp@127.0.0.1:8972", md: "state=inactive"},
		{addr: "tcp@127.0.0.1:8972", md: "state=inactive", opts: []discovery.Option{discovery.WithInactive()}, want: []string{"tcp@127.0.0.1:8972"}},
		{addr: "tcp@127.0.0.1", wantErr: "invalid server address"},
		{addr: "tcp@127.0.0.1:8972", md: "weight=-1", wantErr: "invalid server metadata"},
	}
	for _, tt := range tests {
		d, err := discovery.NewPeer2Peer(tt.addr, tt.md, tt.opts...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewPeer2Peer(%q, %q) error = %v, want %q", tt.addr, tt.md, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewPeer2Peer(%q, %q): %v", tt.addr, tt.md, err)
			continue
		}
		if got := keys(d.Servers()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NewPeer2Peer(%q, %q) servers = %v, want %v", tt.addr, tt.md, got, tt.want)
		}
		d.Close()
	}
}

func TestMultipleServersUpdate(t *testing.T) {
	if _, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "x"}}); err == nil {
		t.Error("NewMultipleServers accepted an invalid key")
	}
	d, err := discovery.NewMultipleServers(nil, discovery.WithGroup("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()
	if len(recv(t, ch)) != 0 {
		t.Fatal("want an empty first list")
	}

	err = d.Update([]discovery.KVPair{
		{Key: "tcp@10.0.0.1:1", Value: "group=a"},
		{Key: "tcp@10.0.0.2:1", Value: "group=b"},
		{Key: "tcp@10.0.0.3:1", Value: "group=a&state=inactive"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(recv(t, ch)); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Errorf("after Update: %v", got)
	}

	// Changes the filters hide are not changes.
	if err := d.Update([]discovery.KVPair{{Key: "tcp@10.0.0.1:1", Value: "group=a"}}); err != nil {
		t.Fatal(err)
	}
	noRecv(t, ch)

	// An invalid list is refused whole.
	err = d.Update([]discovery.KVPair{{Key: "tcp@10.0.0.9:1", Value: "group=a"}, {Key: "tcp@10.0.0.8:1", Value: "weight=z"}})
	if !errors.Is(err, discovery.ErrInvalidMetadata) {
		t.Errorf("Update with bad metadata: %v", err)
	}
	noRecv(t, ch)
	if got := keys(d.Servers()); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1"}) {
		t.Errorf("after a refused Update: %v", got)
	}

	if err := d.Update(nil); err != nil || len(recv(t, ch)) != 0 {
		t.Errorf("Update(nil): %v", err)
	}
	d.Close()
	closed(t, ch)
	if err := d.Update(nil); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
}
