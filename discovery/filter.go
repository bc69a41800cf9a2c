package discovery

// Filter reports whether a client should use a server.
type Filter func(Server) bool

// Active reports whether s takes calls, that is, its metadata does not say state=inactive.
func Active(s Server) bool { return !s.Inactive }

// InGroup returns a Filter that keeps the servers of group.
func InGroup(group string) Filter {
	return func(s Server) bool { return s.Metadata.InGroup(group) }
}

// Apply returns the servers of list that f keeps, in a new slice. A nil Filter keeps all.
func (f Filter) Apply(list []Server) []Server {
	out := make([]Server, 0, len(list))
	for _, s := range list {
		if f == nil || f(s) {
			out = append(out, s)
		}
	}
	return out
}

// Option configures a discovery. Filtering options apply to every discovery; the others say
// which constructor they are for and are ignored elsewhere.
type Option func(*config)

type config struct {
	includeInactive bool
	filters         []Filter
	resolver        Resolver
	metadata        string
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// keep is the combined filter: Active unless WithInactive, then every WithGroup and
// WithFilter.
func (c *config) keep() Filter {
	includeInactive, filters := c.includeInactive, c.filters
	return func(s Server) bool {
		if !includeInactive && s.Inactive {
			return false
		}
		for _, f := range filters {
			if !f(s) {
				return false
			}
		}
		return true
	}
}

// WithGroup keeps only the servers whose metadata lists group (group=name). An empty group
// keeps all.
func WithGroup(group string) Option {
	return func(c *config) {
		if group != "" {
			c.filters = append(c.filters, InGroup(group))
		}
	}
}

// WithFilter keeps only the servers f accepts, in addition to the other filters.
func WithFilter(f Filter) Option {
	return func(c *config) {
		if f != nil {
			c.filters = append(c.filters, f)
		}
	}
}

// WithInactive keeps servers whose metadata says state=inactive, which are dropped by
// default. Use it for tools that show every registered server.
func WithInactive() Option {
	return func(c *config) { c.includeInactive = true }
}

// WithResolver makes NewDNS look names up with r instead of net.DefaultResolver.
func WithResolver(r Resolver) Option {
	return func(c *config) { c.resolver = r }
}

// WithMetadata gives every server NewDNS finds the metadata string md (default none).
func WithMetadata(md string) Option {
	return func(c *config) { c.metadata = md }
}
