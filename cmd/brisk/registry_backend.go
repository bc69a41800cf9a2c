package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	consulapi "github.com/hashicorp/consul/api"
	goredis "github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
	"github.com/brisk-rpc/brisk/registry/consul"
	"github.com/brisk-rpc/brisk/registry/etcd"
	"github.com/brisk-rpc/brisk/registry/mdns"
	"github.com/brisk-rpc/brisk/registry/redis"
	"github.com/brisk-rpc/brisk/registry/zookeeper"
)

// registryConn is an open connection to a registry of a registry URL: it lists the services
// under the URL's base path and makes discoveries of one service.
type registryConn struct {
	u       *registryURL
	timeout time.Duration
	// newDisc makes a Discovery of one service (all servers, inactive ones included when
	// withInactive is set).
	newDisc func(service string, opts ...registry.Option) (*registry.Discovery, error)
	// listServices returns the names of the services registered under the base path, sorted;
	// nil for backends that cannot list them (mdns).
	listServices func(ctx context.Context) ([]string, error)
	close        func()
}

// openRegistry connects to u's registry. timeout bounds every registry request.
func openRegistry(ctx context.Context, u *registryURL, timeout time.Duration) (*registryConn, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	r := &registryConn{u: u, timeout: timeout}
	switch u.Scheme {
	case "etcd":
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   u.Hosts,
			DialTimeout: timeout,
			Context:     context.WithoutCancel(ctx),
			Logger:      zap.NewNop(),
			Username:    u.User.Username(),
			Password:    password(u),
			// Reconnect soon after etcd comes back (gRPC's default waits up to 2 minutes).
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}, MinConnectTimeout: timeout,
			})},
		})
		if err != nil {
			return nil, withCode(exitTransport, fmt.Errorf("etcd %s: %w", strings.Join(u.Hosts, ","), err))
		}
		r.newDisc = func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return etcd.NewDiscovery(cli, service, opts...)
		}
		r.listServices = func(ctx context.Context) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			resp, err := cli.Get(ctx, u.BasePath+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
			if err != nil {
				return nil, err
			}
			keys := make([]string, len(resp.Kvs))
			for i, kv := range resp.Kvs {
				keys[i] = string(kv.Key)
			}
			return servicesOf(u.BasePath+"/", keys), nil
		}
		r.close = func() { _ = cli.Close() }
	case "zookeeper":
		conn, _, err := zk.Connect(u.Hosts, 10*time.Second, zk.WithLogger(log.New(io.Discard, "", 0)))
		if err != nil {
			return nil, withCode(exitTransport, fmt.Errorf("zookeeper %s: %w", strings.Join(u.Hosts, ","), err))
		}
		r.newDisc = func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return zookeeper.NewDiscovery(conn, service, opts...)
		}
		r.listServices = func(ctx context.Context) ([]string, error) {
			type result struct {
				names []string
				err   error
			}
			ch := make(chan result, 1)
			go func() { // zk.Conn's calls take no context
				names, _, err := conn.Children(u.BasePath)
				if errors.Is(err, zk.ErrNoNode) {
					err = nil
				}
				ch <- result{names, err}
			}()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			select {
			case res := <-ch:
				slices.Sort(res.names)
				return res.names, res.err
			case <-ctx.Done():
				return nil, fmt.Errorf("zookeeper: listing %s: %w", u.BasePath, ctx.Err())
			}
		}
		r.close = conn.Close
	case "redis":
		cli := goredis.NewUniversalClient(&goredis.UniversalOptions{
			Addrs: u.Hosts, Username: u.User.Username(), Password: password(u),
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		})
		r.newDisc = func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return redis.NewDiscovery(cli, service, opts...)
		}
		r.listServices = func(ctx context.Context) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			var keys []string
			iter := cli.Scan(ctx, 0, escapeGlob(u.BasePath+"/")+"*", 1000).Iterator()
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				return nil, err
			}
			return servicesOf(u.BasePath+"/", keys), nil
		}
		r.close = func() { _ = cli.Close() }
	case "consul":
		cfg := consulapi.DefaultNonPooledConfig()
		cfg.Address = u.Hosts[0]
		cfg.Token = u.Query.Get("token")
		if u.Query.Get("scheme") == "https" {
			cfg.Scheme = "https"
		}
		cli, err := consulapi.NewClient(cfg)
		if err != nil {
			return nil, withCode(exitUsage, fmt.Errorf("consul %s: %w", u.Hosts[0], err))
		}
		r.newDisc = func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return consul.NewDiscovery(cli, service, opts...)
		}
		r.listServices = func(ctx context.Context) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			prefix := strings.TrimPrefix(u.BasePath, "/") + "/"
			keys, _, err := cli.KV().Keys(prefix, "", (&consulapi.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return nil, err
			}
			return servicesOf(prefix, keys), nil
		}
		r.close = cfg.Transport.CloseIdleConnections
	case "mdns":
		r.newDisc = func(service string, opts ...registry.Option) (*registry.Discovery, error) {
			return mdns.NewDiscovery(service, mdns.WithRegistryOptions(opts...))
		}
		r.close = func() {}
	default:
		return nil, usageErrorf("unknown registry scheme %q", u.Scheme)
	}
	return r, nil
}

// password is the URL's password, or "".
func password(u *registryURL) string {
	p, _ := u.User.Password()
	return p
}

// escapeGlob escapes Redis glob characters in s.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// servicesOf returns the sorted distinct service names among keys below prefix
// (<prefix><service> markers and <prefix><service>/<address> entries).
func servicesOf(prefix string, keys []string) []string {
	var out []string
	for _, k := range keys {
		rel, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		svc, _, _ := strings.Cut(rel, "/")
		if svc != "" && !slices.Contains(out, svc) {
			out = append(out, svc)
		}
	}
	slices.Sort(out)
	return out
}

// discovery returns a Discovery of service's active servers (a discoveryFunc for xPool).
func (r *registryConn) discovery(service string) (discovery.Discovery, error) {
	d, err := r.newDisc(service, r.options()...)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	return d, nil
}

// options are the registry options every discovery of this connection uses.
func (r *registryConn) options(extra ...registry.Option) []registry.Option {
	return append([]registry.Option{
		registry.WithBasePath(r.u.BasePath),
		registry.WithTimeout(r.timeout),
		registry.WithBackoff(100*time.Millisecond, 2*time.Second),
	}, extra...)
}

// Close closes the registry client.
func (r *registryConn) Close() { r.close() }
