package ipfilter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/brisk-rpc/brisk/server"
)

// TextDenied starts the text of a refused request's error, as a client sees it.
const TextDenied = "brisk: address not allowed"

// ErrDenied is wrapped by the errors of refused connections and requests.
var ErrDenied = errors.New(TextDenied)

// Filter holds allow and deny lists. It is safe for concurrent use; Update replaces its
// lists atomically.
type Filter struct {
	lists   atomic.Pointer[lists]
	refused atomic.Uint64
}

type lists struct {
	allow, deny []netip.Prefix
}

// New returns a Filter with the given lists. Each entry is an IP address ("127.0.0.1",
// "::1") or a CIDR prefix ("10.0.0.0/8", "fd00::/8"). It fails on an entry that is
// neither.
func New(allow, deny []string) (*Filter, error) {
	f := &Filter{}
	if err := f.Update(allow, deny); err != nil {
		return nil, err
	}
	return f, nil
}

// Update replaces the lists (see New). On error the lists in use are kept.
func (f *Filter) Update(allow, deny []string) error {
	a, err := parseList(allow)
	if err != nil {
		return err
	}
	d, err := parseList(deny)
	if err != nil {
		return err
	}
	f.lists.Store(&lists{allow: a, deny: d})
	return nil
}

func parseList(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := parseEntry(strings.TrimSpace(e))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parseEntry parses an address or a prefix, in canonical form: masked, without zone, an
// IPv4-mapped prefix of at least 96 bits turned into its IPv4 prefix.
func parseEntry(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("ipfilter: %q is neither an IP address nor a CIDR prefix", s)
		}
		a = canonical(a)
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ipfilter: %q is neither an IP address nor a CIDR prefix", s)
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Allowed reports whether the filter accepts ip. The zero Addr is unknown (see the package
// doc).
func (f *Filter) Allowed(ip netip.Addr) bool {
	l := f.lists.Load()
	if !ip.IsValid() {
		return len(l.allow) == 0
	}
	ip = canonical(ip)
	for _, p := range l.deny {
		if p.Contains(ip) {
			return false
		}
	}
	if len(l.allow) == 0 {
		return true
	}
	for _, p := range l.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// AllowedAddr reports whether the filter accepts a network address (a *net.TCPAddr, a
// *net.UDPAddr, or any address whose String is host:port or an IP). nil is unknown.
func (f *Filter) AllowedAddr(addr net.Addr) bool { return f.Allowed(AddrIP(addr)) }

// AddrIP returns the IP of a network address, or the zero Addr if it has none.
func AddrIP(addr net.Addr) netip.Addr {
	switch a := addr.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		if a == nil {
			return netip.Addr{}
		}
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	case *net.UDPAddr:
		if a == nil {
			return netip.Addr{}
		}
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	}
	s := addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip
}

// Refused returns how many connections and requests the filter has refused.
func (f *Filter) Refused() uint64 { return f.refused.Load() }

// ConnHooks returns hooks that refuse a connection from an address the filter does not
// accept as soon as it is accepted (server.WithConnHooks).
func (f *Filter) ConnHooks() server.ConnHooks {
	return server.ConnHooks{Accepted: func(nc net.Conn) error {
		if f.AllowedAddr(nc.RemoteAddr()) {
			return nil
		}
		f.refused.Add(1)
		return fmt.Errorf("%w: %v", ErrDenied, nc.RemoteAddr())
	}}
}

// Middleware returns a middleware that refuses requests from an address the filter does
// not accept (by Invocation.RemoteAddr), with an error wrapping ErrDenied. Requests made
// through Server.Invoke have no address: they pass only if the allow list is empty.
func (f *Filter) Middleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if !f.AllowedAddr(inv.RemoteAddr) {
				f.refused.Add(1)
				return ErrDenied
			}
			return next(ctx, inv)
		}
	}
}
