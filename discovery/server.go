package discovery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Server is one server of a service, as a registry lists it.
type Server struct {
	// Key identifies the server: network@address, for example "tcp@10.0.0.5:8972". It is
	// the key as registries write it; a key given without a network ("10.0.0.5:8972") is
	// stored with "tcp@" in front, so one server always has one Key.
	Key string
	// Network is the transport ("tcp", "quic", "kcp", "unix", ...).
	Network string
	// Address is what to dial on Network: host:port, or a socket path for unix.
	Address string
	// RawMetadata is the metadata string as registered. Two entries with the same Key and
	// RawMetadata are the same.
	RawMetadata string
	// Metadata is RawMetadata parsed.
	Metadata
}

// String returns s.Key.
func (s Server) String() string { return s.Key }

// NewServer parses a registry entry: key as ParseAddress reads it and metadata as
// ParseMetadata does. An invalid key gives a zero Server and an error. Invalid metadata gives
// a usable Server (see ParseMetadata) and an error, so the caller decides whether to keep it.
func NewServer(key, metadata string) (Server, error) {
	network, address, err := ParseAddress(key)
	if err != nil {
		return Server{}, err
	}
	md, err := ParseMetadata(metadata)
	s := Server{
		Key:         network + "@" + address,
		Network:     network,
		Address:     address,
		RawMetadata: metadata,
		Metadata:    md,
	}
	if err != nil {
		return s, fmt.Errorf("server %s: %w", s.Key, err)
	}
	return s, nil
}

// KVPair is one registry entry: Key is the server's network@address (the part of the
// registry key after the service prefix) and Value its metadata string.
type KVPair struct {
	Key   string
	Value string
}

// ParseServers parses registry entries with NewServer. It returns every entry that has a
// valid key, including those whose metadata has errors (parsed as ParseMetadata describes),
// and an error joining every problem met, or nil. A registry uses the list and may report the
// error; a caller that wants all or nothing checks the error first.
func ParseServers(pairs []KVPair) ([]Server, error) {
	list := make([]Server, 0, len(pairs))
	var errs []error
	for _, p := range pairs {
		s, err := NewServer(p.Key, p.Value)
		if err != nil {
			errs = append(errs, err)
		}
		if s.Key != "" {
			list = append(list, s)
		}
	}
	return list, errors.Join(errs...)
}

// normalize returns a new list, sorted by Key, holding each Key once (the first given) and
// only the servers keep accepts.
func normalize(list []Server, keep Filter) []Server {
	out := make([]Server, 0, len(list))
	for _, s := range list {
		if keep(s) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Server) int { return strings.Compare(a.Key, b.Key) })
	return slices.CompactFunc(out, func(a, b Server) bool { return a.Key == b.Key })
}

// sameServers reports whether a and b list the same entries in the same order.
func sameServers(a, b []Server) bool {
	return slices.EqualFunc(a, b, func(x, y Server) bool {
		return x.Key == y.Key && x.RawMetadata == y.RawMetadata
	})
}
