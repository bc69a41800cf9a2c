package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Resolver looks up the IP addresses of a host. *net.Resolver implements it; tests give
// their own.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// minLookupTimeout bounds one lookup when the interval is shorter.
const minLookupTimeout = 5 * time.Second

// DNS is a Discovery of the addresses a DNS name resolves to (A and AAAA records), looked up
// again every interval. Each address gives the server network@ip:port. It implements
// HealthReporter: Err returns the last lookup's error.
type DNS struct {
	b        *Broadcaster
	resolver Resolver
	name     string
	port     string
	network  string
	metadata string
	md       Metadata
	timeout  time.Duration

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewDNS returns a Discovery of the servers at name:port on network ("" means tcp), where
// name is looked up every interval (WithResolver sets the resolver, default
// net.DefaultResolver; WithMetadata the servers' metadata, default none).
//
// NewDNS looks name up once before returning, for at most the larger of interval and 5 s,
// so that Servers has the list at once. A failed lookup is not an error: the list stays as
// it was (empty at first) and Err reports the failure until a lookup succeeds. Watchers are
// notified only when the set of addresses changes. NewDNS fails only on invalid arguments.
// Close stops the lookups.
func NewDNS(name string, port int, network string, interval time.Duration, opts ...Option) (*DNS, error) {
	if network == "" {
		network = "tcp"
	}
	switch {
	case name == "":
		return nil, errors.New("discovery: DNS: empty name")
	case port < 1 || port > 65535:
		return nil, fmt.Errorf("discovery: DNS: port %d is not from 1 to 65535", port)
	case interval <= 0:
		return nil, fmt.Errorf("discovery: DNS: interval %v is not positive", interval)
	case isUnixNetwork(network):
		return nil, fmt.Errorf("discovery: DNS: network %q has no ports", network)
	}
	if err := checkNetwork(network); err != nil {
		return nil, fmt.Errorf("discovery: DNS: %v", err)
	}
	c := newConfig(opts)
	md, err := ParseMetadata(c.metadata)
	if err != nil {
		return nil, err
	}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &DNS{
		b:        NewBroadcaster(opts...),
		resolver: c.resolver,
		name:     name,
		port:     strconv.Itoa(port),
		network:  network,
		metadata: c.metadata,
		md:       md,
		timeout:  max(interval, minLookupTimeout),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	d.lookup(ctx)
	go d.run(ctx, interval)
	return d, nil
}

func (d *DNS) run(ctx context.Context, interval time.Duration) {
	defer close(d.done)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.lookup(ctx)
		t.Reset(interval)
	}
}

// lookup resolves the name once and publishes the result.
func (d *DNS) lookup(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, d.timeout)
	addrs, err := d.resolver.LookupIPAddr(lctx, d.name)
	cancel()
	if ctx.Err() != nil {
		return // closed: publish nothing
	}
	if err != nil {
		d.b.SetErr(fmt.Errorf("discovery: DNS lookup of %s: %w", d.name, err))
		return
	}
	list := make([]Server, 0, len(addrs))
	for _, a := range addrs {
		address := net.JoinHostPort(a.String(), d.port)
		list = append(list, Server{
			Key:         d.network + "@" + address,
			Network:     d.network,
			Address:     address,
			RawMetadata: d.metadata,
			Metadata:    d.md,
		})
	}
	d.b.Set(list)
	d.b.SetErr(nil)
}

// Servers implements Discovery.
func (d *DNS) Servers() []Server { return d.b.Servers() }

// Watch implements Discovery.
func (d *DNS) Watch() (<-chan []Server, func()) { return d.b.Watch() }

// Err implements HealthReporter: the last lookup's error, or nil if it succeeded.
func (d *DNS) Err() error { return d.b.Err() }

// Close stops the lookups, waiting for one in progress to be cancelled, and ends every watch.
func (d *DNS) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
		d.b.Close()
	})
	return nil
}
