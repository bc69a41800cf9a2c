package registrytest

import (
	"context"
	"testing"

	"github.com/brisk-rpc/brisk/registry"
)

// Constructors are a backend's constructors, bound to a client of the registry (which
// need not be reachable), for CheckConstructors.
type Constructors struct {
	NewRegistrar func(address string, opts ...registry.Option) (*registry.Registrar, error)
	NewDiscovery func(service string, opts ...registry.Option) (*registry.Discovery, error)
	// BadBasePaths are base paths that both constructors refuse.
	BadBasePaths []string
}

// CheckConstructors checks the validation the backends whose keys hold the address share:
// a Registrar refuses an empty address, one without a port and a unix socket path (its '/'
// cannot end a key); a Discovery refuses an empty service name and one with '/'; both
// refuse every base path of BadBasePaths; and a bare host:port is taken as tcp. The
// backend's tests check the rest (a nil client, say).
func CheckConstructors(t *testing.T, c Constructors) {
	t.Helper()
	ctx := context.Background()
	type bad struct {
		name, arg string // the address or the service
		opts      []registry.Option
	}
	registrars := []bad{
		{"no address", "", nil},
		{"no port", "tcp@127.0.0.1", nil},
		{"unix path", "unix@/run/app.sock", nil},
	}
	discoveries := []bad{
		{"no service", "", nil},
		{"slash", "a/b", nil},
	}
	for _, p := range c.BadBasePaths {
		opts := []registry.Option{registry.WithBasePath(p)}
		registrars = append(registrars, bad{"base path " + p, "tcp@127.0.0.1:1", opts})
		discoveries = append(discoveries, bad{"base path " + p, "Arith", opts})
	}
	for _, tt := range registrars {
		if r, err := c.NewRegistrar(tt.arg, tt.opts...); err == nil {
			_ = r.Close(ctx)
			t.Errorf("NewRegistrar(%s) succeeded", tt.name)
		}
	}
	for _, tt := range discoveries {
		if d, err := c.NewDiscovery(tt.arg, tt.opts...); err == nil {
			_ = d.Close()
			t.Errorf("NewDiscovery(%s) succeeded", tt.name)
		}
	}
	r, err := c.NewRegistrar("127.0.0.1:8972")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if r.Address() != "tcp@127.0.0.1:8972" {
		t.Errorf("Address = %q, want tcp@127.0.0.1:8972", r.Address())
	}
}
