package discovery_test

import (
	"errors"
	"net/url"
	"reflect"
	"testing"

	"github.com/brisk-rpc/brisk/discovery"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		key, network, address string
		wantErr               bool
	}{
		{key: "tcp@1.2.3.4:8972", network: "tcp", address: "1.2.3.4:8972"},
		{key: "1.2.3.4:8972", network: "tcp", address: "1.2.3.4:8972"},
		{key: "quic@[::1]:8972", network: "quic", address: "[::1]:8972"},
		{key: "tcp@[fe80::1%eth0]:8972", network: "tcp", address: "[fe80::1%eth0]:8972"},
		{key: "kcp@server-1.example.com:9000", network: "kcp", address: "server-1.example.com:9000"},
		{key: "tcp4@:8972", network: "tcp4", address: ":8972"},
		{key: "unix@/run/app.sock", network: "unix", address: "/run/app.sock"},
		{key: "unix@@abstract", network: "unix", address: "@abstract"},
		{key: "ws@10.0.0.5:65535", network: "ws", address: "10.0.0.5:65535"},

		{key: "", wantErr: true},
		{key: "@1.2.3.4:8972", wantErr: true},
		{key: "tcp@", wantErr: true},
		{key: "unix@", wantErr: true},
		{key: "garbage", wantErr: true},
		{key: "/run/app.sock", wantErr: true},
		{key: "tcp@1.2.3.4", wantErr: true},
		{key: "tcp@1.2.3.4:", wantErr: true},
		{key: "tcp@1.2.3.4:0", wantErr: true},
		{key: "tcp@1.2.3.4:65536", wantErr: true},
		{key: "tcp@1.2.3.4:http", wantErr: true},
		{key: "tcp@::1:8972", wantErr: true},
		{key: "tcp@[zz::1]:8972", wantErr: true},
		{key: "tcp@host name:8972", wantErr: true},
		{key: "tcp@user@host:8972", wantErr: true},
		{key: "t p@1.2.3.4:8972", wantErr: true},
		{key: " tcp@1.2.3.4:8972", wantErr: true},
		{key: "tcp@1.2.3.4:8972 ", wantErr: true},
		{key: "unix@/a\x00b", wantErr: true},
	}
	for _, tt := range tests {
		network, address, err := discovery.ParseAddress(tt.key)
		if tt.wantErr {
			if err == nil || !errors.Is(err, discovery.ErrInvalidAddress) {
				t.Errorf("ParseAddress(%q) = %q, %q, %v; want an ErrInvalidAddress", tt.key, network, address, err)
			}
			continue
		}
		if err != nil || network != tt.network || address != tt.address {
			t.Errorf("ParseAddress(%q) = %q, %q, %v; want %q, %q", tt.key, network, address, err, tt.network, tt.address)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in      string
		want    discovery.Metadata // Values is checked separately
		wantErr bool
	}{
		{in: "", want: discovery.Metadata{Weight: 1}},
		{in: "weight=10", want: discovery.Metadata{Weight: 10}},
		{in: "weight=0", want: discovery.Metadata{Weight: 0}},
		{in: "weight=3&weight=7", want: discovery.Metadata{Weight: 3}},
		{in: "group=a&group=b&group=", want: discovery.Metadata{Weight: 1, Groups: []string{"a", "b"}}},
		{in: "state=inactive", want: discovery.Metadata{Weight: 1, Inactive: true}},
		{in: "state=active", want: discovery.Metadata{Weight: 1}},
		{in: "latitude=48.85&longitude=2.35", want: discovery.Metadata{Weight: 1, Latitude: 48.85, Longitude: 2.35, HasGeo: true}},
		{in: "latitude=-90&longitude=180", want: discovery.Metadata{Weight: 1, Latitude: -90, Longitude: 180, HasGeo: true}},
		{in: "tps=100&weight=2", want: discovery.Metadata{Weight: 2}},

		// Errors keep the fields that parsed.
		{in: "weight=-1&group=a", want: discovery.Metadata{Weight: 1, Groups: []string{"a"}}, wantErr: true},
		{in: "weight=abc", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "weight=", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "weight=99999999999999999999", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "state=inactive&weight=%zz", want: discovery.Metadata{Weight: 1, Inactive: true}, wantErr: true},
		{in: "latitude=91&longitude=0", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "latitude=0&longitude=-181", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "latitude=NaN&longitude=0", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "latitude=north&longitude=0", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "latitude=1", want: discovery.Metadata{Weight: 1}, wantErr: true},
		{in: "longitude=1", want: discovery.Metadata{Weight: 1}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := discovery.ParseMetadata(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, discovery.ErrInvalidMetadata)) {
			t.Errorf("ParseMetadata(%q) error = %v, want error: %v", tt.in, err, tt.wantErr)
		}
		if got.Values == nil {
			t.Errorf("ParseMetadata(%q).Values is nil", tt.in)
		}
		got.Values = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMetadata(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseMetadataValues(t *testing.T) {
	md, err := discovery.ParseMetadata("weight=5&tps=100&region=eu%2Dwest")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"weight": {"5"}, "tps": {"100"}, "region": {"eu-west"}}
	if !reflect.DeepEqual(md.Values, want) {
		t.Errorf("Values = %v, want %v", md.Values, want)
	}
	if md.InGroup("") || md.InGroup("x") {
		t.Error("InGroup on a server without groups")
	}
}

func TestNewServer(t *testing.T) {
	s, err := discovery.NewServer("10.0.0.5:8972", "weight=3&group=g")
	if err != nil {
		t.Fatal(err)
	}
	if s.Key != "tcp@10.0.0.5:8972" || s.Network != "tcp" || s.Address != "10.0.0.5:8972" ||
		s.RawMetadata != "weight=3&group=g" || s.Weight != 3 || !s.InGroup("g") || s.String() != s.Key {
		t.Errorf("NewServer = %+v", s)
	}

	if s, err := discovery.NewServer("nonsense", ""); err == nil || s.Key != "" {
		t.Errorf("NewServer(bad key) = %+v, %v; want a zero Server and an error", s, err)
	}
	s, err = discovery.NewServer("tcp@10.0.0.5:8972", "weight=x&group=g")
	if !errors.Is(err, discovery.ErrInvalidMetadata) || s.Key != "tcp@10.0.0.5:8972" || s.Weight != 1 || !s.InGroup("g") {
		t.Errorf("NewServer(bad metadata) = %+v, %v; want a usable Server and an error", s, err)
	}
}

func TestParseServers(t *testing.T) {
	list, err := discovery.ParseServers([]discovery.KVPair{
		{Key: "tcp@10.0.0.1:1", Value: "weight=2"},
		{Key: "bad key", Value: ""},
		{Key: "tcp@10.0.0.2:1", Value: "weight=-2"},
	})
	if !errors.Is(err, discovery.ErrInvalidAddress) || !errors.Is(err, discovery.ErrInvalidMetadata) {
		t.Errorf("error %v should report both bad entries", err)
	}
	if got := keys(list); !reflect.DeepEqual(got, []string{"tcp@10.0.0.1:1", "tcp@10.0.0.2:1"}) {
		t.Errorf("servers = %v", got)
	}
	if list, err := discovery.ParseServers(nil); err != nil || len(list) != 0 {
		t.Errorf("ParseServers(nil) = %v, %v", list, err)
	}
}

// keys returns the keys of list, or nil for an empty list.
func keys(list []discovery.Server) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Key)
	}
	return out
}

// servers builds a list from keys and metadata strings, failing the test on a bad entry.
func servers(t *testing.T, kv ...string) []discovery.Server {
	t.Helper()
	var list []discovery.Server
	for i := 0; i < len(kv); i += 2 {
		s, err := discovery.NewServer(kv[i], kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, s)
	}
	return list
}
