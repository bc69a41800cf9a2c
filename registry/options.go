package registry

import (
	"log/slog"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
)

// DefaultBasePath is the base path used when none is given; it is the one rpcx's examples
// use, so that brisk and rpcx processes left at their defaults find each other.
const DefaultBasePath = "/rpcx_test"

// Option configures a Registrar or a Discovery of any backend.
type Option func(*Settings)

// Settings are the resolved options. Backends read them; users set them with Options.
type Settings struct {
	// BasePath is the root of the layout (default DefaultBasePath).
	BasePath string
	// TTL is how long an entry outlives a server that stopped refreshing it: the lease, the
	// session or the key's expiry (default 30s).
	TTL time.Duration
	// RefreshInterval is how often a Registrar keeps its entries alive and retries failed
	// writes (default TTL/3), and how often a polling Source lists.
	RefreshInterval time.Duration
	// Timeout bounds every single request to the registry (default 5s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a Discovery re-establishes a broken
	// watch (defaults 100ms and 10s); the wait doubles after each failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives what goes wrong in the background (default: discarded).
	Logger *slog.Logger
	// Filters are the discovery options (group, inactive, custom filters) a Discovery
	// applies to its lists.
	Filters []discovery.Option
}

// WithBasePath sets the root of the layout, for example "/rpcx_test" (a leading slash is
// added if missing and a trailing one removed).
func WithBasePath(p string) Option { return func(s *Settings) { s.BasePath = p } }

// WithTTL sets how long an entry outlives a server that stopped refreshing it.
func WithTTL(d time.Duration) Option { return func(s *Settings) { s.TTL = d } }

// WithRefreshInterval sets how often entries are kept alive (and how often polling Sources
// list).
func WithRefreshInterval(d time.Duration) Option {
	return func(s *Settings) { s.RefreshInterval = d }
}

// WithTimeout bounds each request to the registry.
func WithTimeout(d time.Duration) Option { return func(s *Settings) { s.Timeout = d } }

// WithBackoff bounds the wait before a broken watch is re-established.
func WithBackoff(min, max time.Duration) Option {
	return func(s *Settings) { s.MinBackoff, s.MaxBackoff = min, max }
}

// WithLogger sets the logger that receives background failures.
func WithLogger(l *slog.Logger) Option { return func(s *Settings) { s.Logger = l } }

// WithDiscoveryOptions adds filters (discovery.WithGroup, discovery.WithInactive, ...) to a
// Discovery.
func WithDiscoveryOptions(opts ...discovery.Option) Option {
	return func(s *Settings) { s.Filters = append(s.Filters, opts...) }
}

// NewSettings applies opts over the defaults.
func NewSettings(opts ...Option) Settings {
	var s Settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	s.BasePath = CleanBasePath(s.BasePath)
	if s.TTL <= 0 {
		s.TTL = 30 * time.Second
	}
	if s.RefreshInterval <= 0 {
		s.RefreshInterval = s.TTL / 3
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Second
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 100 * time.Millisecond
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = max(10*time.Second, s.MinBackoff)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s
}
