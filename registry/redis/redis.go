// Package redis advertises brisk servers in Redis and discovers them there, in the layout
// rpcx's Redis plugin uses, so brisk and rpcx servers and clients find each other.
//
// Each (service, server) pair is one string key, <basePath>/<service>/<network@host:port>
// (with the leading slash), written with SET ... EX and kept alive every RefreshInterval
// (its expiry extended, or the key written again if it is missing), so the entry of a
// server that dies without deregistering expires after TTL. Its value is
// rpcx's JSON wrapper {"Key":"<the key>","Value":"<base64 of the metadata>","LastIndex":n}.
// Because a refresh writes every missing key again, entries come back by themselves after
// Redis restarted without persistence.
//
// A Discovery lists a service with SCAN and MGET. It watches through keyspace
// notifications when it may: if the server's notify-keyspace-events lacks what it needs it
// tries to turn them on with CONFIG SET (adding "KEA"). Managed Redis services often forbid
// CONFIG, and notifications are local to one node of a Redis Cluster or Ring; in those cases
// the Discovery polls every RefreshInterval instead. With notifications it still re-lists
// every TTL as a safety net, and a lost notification connection breaks the watch, which the
// Discovery re-establishes with backoff. Refreshes extend keys with PEXPIRE, whose "expire"
// events the Discovery ignores, so they do not make every client list again.
//
// TTL and refresh interval: the key's expiry is TTL and it is kept alive every
// RefreshInterval. Given only one of registry.WithTTL and registry.WithRefreshInterval, the
// other follows from TTL = 2 x RefreshInterval (rpcx's rule); given neither, TTL is 30s and
// the refresh interval 15s. The TTL must exceed the refresh interval.
//
// The caller owns the Redis client: it creates it (redis.NewClient, NewFailoverClient,
// NewClusterClient, NewUniversalClient) and closes it after closing the Registrar or
// Discovery. This package reports background failures only through registry.WithLogger;
// go-redis prints some connection failures through its own logger (see its SetLogger).
//
//	cli := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	defer cli.Close()
//	reg, err := redis.NewRegistrar(cli, "tcp@10.0.0.5:8972", registry.WithBasePath("/rpcx_test"))
//	if err != nil { ... }
//	s := server.NewServer(server.WithRegistrar(reg))
//	...
//	d, err := redis.NewDiscovery(cli, "Arith", registry.WithBasePath("/rpcx_test"))
//	if err != nil { ... }
//	defer d.Close()
//	x := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

// Defaults when neither registry.WithTTL nor registry.WithRefreshInterval is given.
const (
	defaultTTL     = 30 * time.Second
	defaultRefresh = defaultTTL / 2
)

// NewRegistrar returns a Registrar that advertises the server at address (network@host:port,
// as clients dial it; a bare host:port means tcp) in Redis through cli. Give it to
// server.WithRegistrar. Closing it deletes its entries; it does not close cli.
func NewRegistrar(cli goredis.UniversalClient, address string, opts ...registry.Option) (*registry.Registrar, error) {
	if cli == nil {
		return nil, errors.New("registry/redis: nil Redis client")
	}
	addr, err := registry.CheckAddress(address)
	if err != nil {
		return nil, err
	}
	s, err := settings(opts)
	if err != nil {
		return nil, err
	}
	st := &store{cli: cli, base: s.BasePath, address: addr, ttl: s.TTL}
	return registry.NewRegistrar(st, addr, s), nil
}

// NewDiscovery returns a Discovery that lists the servers of service registered in Redis
// and follows their changes (see the package documentation). Closing it does not close cli.
func NewDiscovery(cli goredis.UniversalClient, service string, opts ...registry.Option) (*registry.Discovery, error) {
	if cli == nil {
		return nil, errors.New("registry/redis: nil Redis client")
	}
	if err := registry.CheckService(service); err != nil {
		return nil, err
	}
	s, err := settings(opts)
	if err != nil {
		return nil, err
	}
	src := &source{
		cli:      cli,
		prefix:   registry.ServicePath(s.BasePath, service) + "/",
		settings: s,
	}
	return registry.NewDiscovery(src, s), nil
}

// settings resolves opts, deriving the TTL and the refresh interval from each other as the
// package documentation says.
func settings(opts []registry.Option) (registry.Settings, error) {
	var given registry.Settings // only what the caller set
	for _, o := range opts {
		if o != nil {
			o(&given)
		}
	}
	s := registry.NewSettings(opts...)
	switch {
	case given.TTL > 0 && given.RefreshInterval > 0:
	case given.TTL > 0:
		s.RefreshInterval = s.TTL / 2
	case given.RefreshInterval > 0:
		s.TTL = 2 * s.RefreshInterval
	default:
		s.TTL, s.RefreshInterval = defaultTTL, defaultRefresh
	}
	if s.RefreshInterval <= 0 || s.RefreshInterval >= s.TTL {
		return s, fmt.Errorf("registry/redis: the TTL (%v) must exceed the refresh interval (%v)", s.TTL, s.RefreshInterval)
	}
	if s.TTL < time.Millisecond {
		return s, fmt.Errorf("registry/redis: TTL %v is below Redis's resolution of 1ms", s.TTL)
	}
	return s, nil
}

// rpcxPathMarker is the value rpcx writes at <basePath>.
const rpcxPathMarker = "rpcx_path"

// store writes one server's entries. Its marker keys follow the common model of
// REGISTRY.md ("Servers also write marker keys: <basePath> = rpcx_path, <basePath>/<Service>
// = the service name"), which its Redis section does not exempt Redis from; rpcx's Redis
// plugin writes them too. Here they carry the same wrapper and TTL as the entries, so they
// vanish with the last server instead of lingering. Clients never read them: they are not
// under <basePath>/<Service>/.
type store struct {
	cli     goredis.UniversalClient
	base    string // cleaned basePath
	address string // network@host:port
	ttl     time.Duration
}

// keys returns the keys of services (service -> value) with what to write there: the
// marker keys first, then the entries.
func (s *store) keys(entries map[string]string) [][2]string {
	out := [][2]string{{s.base, encodeValue(s.base, rpcxPathMarker)}}
	for service, value := range entries {
		svc := registry.ServicePath(s.base, service)
		key := svc + "/" + s.address
		out = append(out, [2]string{svc, encodeValue(svc, service)}, [2]string{key, encodeValue(key, value)})
	}
	return out
}

// Put implements registry.Store: SET ... EX of the markers and the entry.
func (s *store) Put(ctx context.Context, service, value string) error {
	pipe := s.cli.Pipeline()
	for _, kv := range s.keys(map[string]string{service: value}) {
		pipe.Set(ctx, kv[0], kv[1], s.ttl)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Delete implements registry.Store. The markers stay until they expire: other servers may
// share them.
func (s *store) Delete(ctx context.Context, service string) error {
	return s.cli.Del(ctx, registry.Key(s.base, service, s.address)).Err()
}

// Refresh implements registry.Store. It extends the expiry of every key and writes, with
// SET ... NX EX, those that are missing: a Redis restart without persistence, a flush or a
// failover that lost writes removed them. Extending instead of rewriting keeps the
// refreshes from firing "set" notifications, each of which would make every watching client
// list the service again; the Discoveries of this package ignore the "expire" ones.
func (s *store) Refresh(ctx context.Context, entries map[string]string) error {
	if len(entries) == 0 {
		return nil
	}
	pipe := s.cli.Pipeline()
	for _, kv := range s.keys(entries) {
		pipe.PExpire(ctx, kv[0], s.ttl) // a key it extends cannot expire before the SET NX
		pipe.SetNX(ctx, kv[0], kv[1], s.ttl)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Close implements registry.Store; a store holds nothing in Redis besides its keys.
func (s *store) Close(context.Context) error { return nil }

// wrapper is rpcx's JSON form of a value (its libkv store's KVPair): encoding/json writes
// Value, a []byte, in standard base64 with padding.
type wrapper struct {
	Key       string
	Value     []byte
	LastIndex uint64
}

// encodeValue wraps metadata as rpcx does. LastIndex is a version number that clients
// ignore; this package writes the time of the write, in nanoseconds.
func encodeValue(key, metadata string) string {
	b, err := json.Marshal(wrapper{Key: key, Value: []byte(metadata), LastIndex: uint64(time.Now().UnixNano())})
	if err != nil { // cannot happen: every field is a string, bytes or a number
		return metadata
	}
	return string(b)
}

// decodeValue returns the metadata held in a value read from Redis: the Value of rpcx's
// JSON wrapper, or, when the value is not such a wrapper (a JSON object), the value itself,
// as a process writing bare metadata strings leaves it.
func decodeValue(raw string) string {
	t := strings.TrimLeft(raw, " \t\r\n")
	if !strings.HasPrefix(t, "{") {
		return raw
	}
	var w wrapper
	if err := json.Unmarshal([]byte(t), &w); err != nil {
		return raw
	}
	return string(w.Value)
}

// source lists and watches one service.
type source struct {
	cli      goredis.UniversalClient
	prefix   string // <basePath>/<service>/
	settings registry.Settings
}

// globEscape escapes the characters SCAN MATCH and PSUBSCRIBE patterns treat specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// serverOf returns the server address of key if key is an entry of the source's service:
// directly under the prefix, one level deep; a unix socket address may hold slashes
// (unix@/run/app.sock). Deeper keys are not entries of this service.
func (s *source) serverOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || rest == "" {
		return "", false
	}
	if strings.Contains(rest, "/") {
		network, _, _ := strings.Cut(rest, "@")
		switch network {
		case "unix", "unixgram", "unixpacket":
		default:
			return "", false
		}
	}
	return rest, true
}

// List implements registry.Source.
func (s *source) List(ctx context.Context) ([]discovery.KVPair, error) {
	keys, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	values, err := s.get(ctx, keys)
	if err != nil {
		return nil, err
	}
	pairs := make([]discovery.KVPair, 0, len(keys))
	for i, key := range keys {
		v, ok := values[i].(string)
		if !ok { // expired or deleted since the SCAN, or not a string key
			continue
		}
		addr, _ := s.serverOf(key)
		pairs = append(pairs, discovery.KVPair{Key: addr, Value: decodeValue(v)})
	}
	return pairs, nil
}

// scan returns the entry keys of the service, each once (SCAN may repeat a key), on every
// master of a cluster and every shard of a ring.
func (s *source) scan(ctx context.Context) ([]string, error) {
	match := globEscape(s.prefix) + "*"
	var (
		mu   sync.Mutex
		seen = make(map[string]bool)
		keys []string
	)
	scanNode := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, match, 512).Iterator()
		for it.Next(ctx) {
			key := it.Val()
			if _, ok := s.serverOf(key); !ok {
				continue
			}
			mu.Lock()
			if !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	switch c := s.cli.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return scanNode(ctx, n) })
	case *goredis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error { return scanNode(ctx, n) })
	default:
		err = scanNode(ctx, s.cli)
	}
	if err != nil {
		return nil, fmt.Errorf("registry/redis: listing %s: %w", s.prefix, err)
	}
	return keys, nil
}

// mgetBatch bounds the keys of one MGET.
const mgetBatch = 256

// get reads the values of keys: with MGET on one server, with pipelined GETs on a cluster or
// ring, whose keys live on different nodes. A missing key gives nil.
func (s *source) get(ctx context.Context, keys []string) ([]any, error) {
	values := make([]any, 0, len(keys))
	switch s.cli.(type) {
	case *goredis.ClusterClient, *goredis.Ring:
		pipe := s.cli.Pipeline()
		cmds := make([]*goredis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.Get(ctx, k)
		}
		if len(keys) > 0 {
			_, _ = pipe.Exec(ctx) // each command's own error is checked below
		}
		for _, c := range cmds {
			v, err := c.Result()
			var replyErr goredis.Error // goredis.Nil (no such key), WRONGTYPE, ...
			switch {
			case err == nil:
				values = append(values, v)
			case errors.As(err, &replyErr):
				values = append(values, nil)
			default:
				return nil, fmt.Errorf("registry/redis: reading %s: %w", s.prefix, err)
			}
		}
	default:
		for len(keys) > 0 {
			n := min(len(keys), mgetBatch)
			vs, err := s.cli.MGet(ctx, keys[:n]...).Result()
			if err != nil {
				return nil, fmt.Errorf("registry/redis: reading %s: %w", s.prefix, err)
			}
			values = append(values, vs...)
			keys = keys[n:]
		}
	}
	return values, nil
}
