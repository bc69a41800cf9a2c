package mdns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/zeroconf/v2"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

// ServiceType is the DNS-SD service type rpcx servers advertise and rpcx clients browse.
// It has one label, not the usual two ("_name._tcp"), as rpcx's plugin registers it.
const ServiceType = "_rpcxservices"

// DefaultDomain is the mDNS domain used when none is given.
const DefaultDomain = "local."

// Option configures NewRegistrar and NewDiscovery.
type Option func(*config)

type config struct {
	ifaces   []net.Interface
	domain   string
	settings []registry.Option
}

// WithInterfaces restricts mDNS to these network interfaces (default: every interface that
// is up and multicast-capable). Each must be up and multicast-capable when used; a
// Discovery checks them at every browse round and reports through Err while none is.
func WithInterfaces(ifaces ...net.Interface) Option {
	return func(c *config) { c.ifaces = append(c.ifaces, ifaces...) }
}

// WithDomain sets the mDNS domain (default "local.").
func WithDomain(domain string) Option { return func(c *config) { c.domain = domain } }

// WithRegistryOptions passes options of the registry package (TTL, RefreshInterval,
// Logger, discovery filters, ...) to the Registrar or the Discovery.
func WithRegistryOptions(opts ...registry.Option) Option {
	return func(c *config) { c.settings = append(c.settings, opts...) }
}

func newConfig(opts []Option) (config, error) {
	c := config{domain: DefaultDomain}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	c.domain = strings.TrimSpace(c.domain)
	if c.domain == "" || c.domain == "." {
		c.domain = DefaultDomain
	}
	if strings.ContainsAny(c.domain, " \t\r\n\\") || strings.HasPrefix(c.domain, ".") || strings.Contains(c.domain, "..") {
		return c, fmt.Errorf("mdns: invalid domain %q", c.domain)
	}
	if !strings.HasSuffix(c.domain, ".") {
		c.domain += "."
	}
	return c, nil
}

// interfaces returns the interfaces to use now: the chosen ones with their current flags,
// or every usable one. It fails when none is up and multicast-capable.
func (c *config) interfaces() ([]net.Interface, error) {
	var out []net.Interface
	if len(c.ifaces) == 0 {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("mdns: listing network interfaces: %w", err)
		}
		for _, ifi := range all {
			if usable(ifi) {
				out = append(out, ifi)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("mdns: no network interface is up and multicast-capable")
		}
		return out, nil
	}
	var bad []string
	for _, chosen := range c.ifaces {
		ifi, err := net.InterfaceByIndex(chosen.Index)
		if err != nil || ifi.Name != chosen.Name {
			bad = append(bad, chosen.Name+" (gone)")
			continue
		}
		if !usable(*ifi) {
			bad = append(bad, chosen.Name+" (not up and multicast-capable)")
			continue
		}
		out = append(out, *ifi)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mdns: no usable network interface: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

func usable(ifi net.Interface) bool {
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0
}

// NewRegistrar returns a Registrar that advertises the services of the server at address
// (network@host:port; the port is the SRV record's) for server.WithRegistrar.
//
// Every server process advertises one instance of ServiceType whose TXT record lists all
// its services; registering, withdrawing or marking services inactive re-announces it.
// Settings.TTL becomes the records' TTL; Settings.BasePath does not apply to mDNS.
func NewRegistrar(address string, opts ...Option) (*registry.Registrar, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	address, err = registry.CheckAddress(address)
	if err != nil {
		return nil, err
	}
	network, hostPort, _ := strings.Cut(address, "@")
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, fmt.Errorf("mdns: %s addresses cannot be advertised (an SRV record needs host:port): %q", network, address)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("mdns: invalid port in %q", address)
	}
	settings := registry.NewSettings(c.settings...)
	s := &store{
		cfg:      c,
		address:  address,
		host:     host,
		port:     port,
		instance: instanceName(host, port),
		ttl:      uint32(max(1, (settings.TTL+time.Second-1)/time.Second)),
		services: make(map[string]string),
	}
	return registry.NewRegistrar(s, address, settings), nil
}

// instanceName returns the DNS-SD instance name of the server at host:port. rpcx uses the
// bare host name, so two rpcx servers on one machine announce the same instance and clients
// see only one of them; brisk appends the address, keeping one instance per server.
func instanceName(host string, port int) string {
	name, _ := os.Hostname()
	name, _, _ = strings.Cut(name, ".")
	if name == "" {
		name = "brisk"
	}
	// A DNS label holds 63 bytes: shorten the host name, never the address.
	suffix := sanitize("-" + host + "-" + strconv.Itoa(port))
	return sanitize(name)[:max(0, min(len(name), 63-len(suffix)))] + suffix
}

// sanitize keeps letters, digits and '-' (so the name is one plain DNS label) and turns
// every other byte into '-'.
func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// store advertises one server's services through a zeroconf responder. The Registrar
// serialises its calls.
type store struct {
	cfg      config
	address  string
	host     string
	port     int
	instance string
	ttl      uint32

	services map[string]string // service -> value to advertise
	txt      []string          // what server advertises
	server   *zeroconf.Server
}

func (s *store) Put(_ context.Context, service, value string) error {
	s.services[service] = value
	return s.publish()
}

func (s *store) Delete(_ context.Context, service string) error {
	delete(s.services, service)
	return s.publish()
}

// Refresh re-announces if the responder is not running (a failed start) or advertises
// something else than entries. A running responder answers queries by itself.
func (s *store) Refresh(_ context.Context, entries map[string]string) error {
	s.services = maps.Clone(entries)
	return s.publish()
}

func (s *store) Close(context.Context) error {
	s.shutdown()
	return nil
}

func (s *store) shutdown() {
	if s.server != nil {
		s.server.Shutdown() // sends the goodbye (TTL 0) records
		s.server, s.txt = nil, nil
	}
}

// publish makes the responder advertise s.services: the library's SetText is not safe
// while the responder answers queries, so a change shuts it down (with a goodbye) and
// starts a new one with the new TXT record.
func (s *store) publish() error {
	if len(s.services) == 0 {
		s.shutdown()
		return nil
	}
	txt, err := encodeTXT(s.address, s.services)
	if err != nil {
		return err
	}
	if s.server != nil && slices.Equal(txt, s.txt) {
		return nil
	}
	ifaces, err := s.cfg.interfaces()
	if err != nil {
		return err
	}
	ips, err := s.ips(ifaces)
	if err != nil {
		return err
	}
	s.shutdown()
	// The host name of the SRV and A records is the instance name too, so that servers on
	// one machine do not announce conflicting addresses for one name.
	server, err := zeroconf.RegisterProxy(s.instance, ServiceType, s.cfg.domain, s.port,
		s.instance, ips, txt, ifaces, zeroconf.TTL(s.ttl))
	if err != nil {
		return fmt.Errorf("mdns: announcing %s: %w", s.instance, err)
	}
	s.server, s.txt = server, txt
	return nil
}

// ips returns the addresses of the A/AAAA records: the server's own IP, or for a host name
// or a wildcard address the interfaces' addresses.
func (s *store) ips(ifaces []net.Interface) ([]string, error) {
	if ip, err := netip.ParseAddr(s.host); err == nil && !ip.IsUnspecified() {
		return []string{ip.Unmap().String()}, nil
	}
	var out []string
	for _, ifi := range ifaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
				continue // a link-local IPv6 address needs a zone clients do not know
			}
			out = append(out, p.Addr().Unmap().String())
		}
	}
	if len(out) == 0 {
		return nil, errors.New("mdns: the chosen interfaces have no address to advertise")
	}
	return out, nil
}

// NewDiscovery returns a Discovery of service's servers on the local network, for
// client.NewXClient. It browses for ServiceType continuously, starting a fresh browse
// every Settings.RefreshInterval (which also picks up changed TXT records), and lists the
// servers whose announcement or answer was received within the last Settings.TTL: a server
// that crashed disappears within the TTL, one that shut down (and said goodbye) within
// about a second.
func NewDiscovery(service string, opts ...Option) (*registry.Discovery, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := registry.CheckService(service); err != nil {
		return nil, err
	}
	settings := registry.NewSettings(c.settings...)
	src := &source{cfg: c, service: service, settings: settings, seen: make(map[string]*instance)}
	return registry.NewDiscovery(src, settings), nil
}

// instance is what a source knows of one announced server instance.
type instance struct {
	pairs []discovery.KVPair // this service's entries in its TXT record
	at    time.Time          // when it was last received
	bye   time.Time          // when it said goodbye, if it did since
}

type source struct {
	cfg      config
	service  string
	settings registry.Settings

	mu sync.Mutex
	// seen is keyed by instance name and port: rpcx names every server of a machine after
	// the host, and those must not overwrite each other.
	seen map[string]*instance
}

// List returns the service's entries of every instance received within the TTL.
func (s *source) List(context.Context) ([]discovery.KVPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(time.Now())
	byAddr := make(map[string]discovery.KVPair)
	newest := make(map[string]time.Time)
	for _, in := range s.seen {
		for _, p := range in.pairs {
			// Two instances claiming one address: trust the one heard from last.
			if t, ok := newest[p.Key]; !ok || in.at.After(t) {
				byAddr[p.Key], newest[p.Key] = p, in.at
			}
		}
	}
	out := make([]discovery.KVPair, 0, len(byAddr))
	for _, p := range byAddr {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// expireLocked forgets instances not heard from within the TTL, or since they said goodbye
// byeDelay ago, and reports whether any was forgotten.
func (s *source) expireLocked(now time.Time) bool {
	expired := false
	for name, in := range s.seen {
		if now.Sub(in.at) > s.settings.TTL || !in.bye.IsZero() && now.Sub(in.bye) >= byeDelay {
			delete(s.seen, name)
			expired = expired || len(in.pairs) > 0
		}
	}
	return expired
}

// update records an entry received from the network and reports whether the service's
// list may have changed.
func (s *source) update(e *zeroconf.ServiceEntry, now time.Time) bool {
	metas, err := decodeTXT(e.Text)
	if err != nil {
		s.settings.Logger.Debug("brisk mdns: skipping bad TXT record", "instance", e.Instance, "err", err)
	}
	var pairs []discovery.KVPair
	for _, m := range metas {
		if m.Service == s.service {
			pairs = append(pairs, discovery.KVPair{Key: m.ServiceAddress, Value: m.Meta})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := e.Instance + ":" + strconv.Itoa(e.Port)
	old, ok := s.seen[key]
	s.seen[key] = &instance{pairs: pairs, at: now}
	if !ok {
		return len(pairs) > 0
	}
	return !slices.Equal(old.pairs, pairs)
}

// byeDelay is how long a goodbye (a record with TTL 0) takes to remove an instance that is
// not heard from again: RFC 6762 section 10.1 has queriers keep such a record for one more
// second. A server re-announcing with new metadata says goodbye and answers again at once.
const byeDelay = time.Second

// watch is the state of one Watch call.
type watch struct {
	changed func()
	settle  <-chan time.Time
	tick    <-chan time.Time
	requery chan struct{} // a goodbye was heard: start a new round, querying at once
}

// Watch browses in rounds of RefreshInterval until ctx ends or a round cannot start (no
// usable interface, sockets that cannot be opened), which it returns. Beside the browser it
// listens for goodbyes, so that a server that shuts down leaves the list within a second.
func (s *source) Watch(ctx context.Context, changed func()) error {
	// Answers arrive within milliseconds on a LAN: the watch counts as established (and the
	// first list is taken) shortly after the first query, not with an empty list at once.
	settle := time.NewTimer(min(s.settings.RefreshInterval/2, 500*time.Millisecond))
	defer settle.Stop()
	tick := time.NewTicker(max(min(s.settings.RefreshInterval/4, s.settings.TTL/4, byeDelay/4), 10*time.Millisecond))
	defer tick.Stop()
	w := &watch{changed: changed, settle: settle.C, tick: tick.C, requery: make(chan struct{}, 1)}
	// Nothing was heard while no watch ran: give every known instance a full TTL to answer
	// again rather than dropping it before the first query.
	s.mu.Lock()
	now := time.Now()
	for _, in := range s.seen {
		in.at, in.bye = now, time.Time{}
	}
	s.mu.Unlock()
	for ctx.Err() == nil {
		ifaces, err := s.cfg.interfaces()
		if err != nil {
			return err
		}
		stop := s.listenGoodbyes(ifaces, w)
		err = s.round(ctx, ifaces, w)
		stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// round runs one browse of RefreshInterval (or until a goodbye is heard). A host without
// IPv6 on the interfaces fails to open the IPv6 socket; the round then browses with IPv4.
func (s *source) round(ctx context.Context, ifaces []net.Interface, w *watch) error {
	rctx, cancel := context.WithTimeout(ctx, s.settings.RefreshInterval)
	defer cancel()
	started, err := s.browse(rctx, cancel, ifaces, zeroconf.IPv4AndIPv6, w)
	if err != nil && !started && rctx.Err() == nil {
		_, err = s.browse(rctx, cancel, ifaces, zeroconf.IPv4, w)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mdns: browsing for %s: %w", ServiceType, err)
	}
	return nil
}

// browse runs zeroconf.Browse until ctx ends, handling what it receives. started reports
// whether the browser opened its sockets (the library closes the entries channel then).
func (s *source) browse(ctx context.Context, cancel context.CancelFunc, ifaces []net.Interface,
	ipType zeroconf.IPType, w *watch) (started bool, err error) {
	entries := make(chan *zeroconf.ServiceEntry, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- zeroconf.Browse(ctx, ServiceType, s.cfg.domain, entries,
			zeroconf.SelectIfaces(ifaces), zeroconf.SelectIPTraffic(ipType))
	}()
	handle := func(e *zeroconf.ServiceEntry) {
		if s.update(e, time.Now()) {
			w.changed()
		}
	}
	in := entries
	for {
		select {
		case e, ok := <-in:
			if !ok {
				started, in = true, nil
				continue
			}
			handle(e)
		case err = <-errc:
			// Browse has returned: everything it sent is buffered, and the channel is
			// closed if the browser started.
			for in != nil {
				select {
				case e, ok := <-in:
					if !ok {
						started, in = true, nil
						continue
					}
					handle(e)
				default:
					in = nil
				}
			}
			return started, err
		case <-w.requery:
			cancel() // Browse returns; the next round queries at once
		case <-w.settle:
			w.changed()
		case now := <-w.tick:
			s.mu.Lock()
			expired := s.expireLocked(now)
			s.mu.Unlock()
			if expired {
				w.changed()
			}
		}
	}
}

// goodbye notes that the instance with key said goodbye at now.
func (s *source) goodbye(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.seen[key]
	if !ok || !in.bye.IsZero() {
		return false
	}
	in.bye = now
	return true
}
