package discovery_test

import (
	"testing"

	"github.com/brisk-rpc/brisk/discovery"
)

// FuzzNewServer checks that parsing never panics, that a parsed key round-trips through
// Server.Key, and that metadata parsing keeps its invariants even on errors.
func FuzzNewServer(f *testing.F) {
	f.Add("tcp@1.2.3.4:8972", "weight=10&group=a")
	f.Add("unix@/run/app.sock", "state=inactive")
	f.Add("quic@[fe80::1%eth0]:1", "latitude=1&longitude=2")
	f.Add("1.2.3.4:80", "weight=-1&%zz")
	f.Fuzz(func(t *testing.T, key, metadata string) {
		s, err := discovery.NewServer(key, metadata)
		if s.Key == "" {
			if err == nil {
				t.Fatal("no key and no error")
			}
			return
		}
		network, address, err := discovery.ParseAddress(s.Key)
		if err != nil || network != s.Network || address != s.Address || network+"@"+address != s.Key {
			t.Fatalf("key %q does not round-trip: %q %q %v", s.Key, network, address, err)
		}
		if s.Values == nil || s.Weight < 0 || (!s.HasGeo && (s.Latitude != 0 || s.Longitude != 0)) {
			t.Fatalf("bad metadata %+v", s.Metadata)
		}
	})
}
