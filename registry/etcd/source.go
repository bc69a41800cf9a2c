package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

// source is the registry.Source of one service.
type source struct {
	cli      *clientv3.Client
	settings registry.Settings
	prefix   string // <basePath>/<service>/
}

// List implements registry.Source.
func (s *source) List(ctx context.Context) ([]discovery.KVPair, error) {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: listing %s: %w", s.prefix, err)
	}
	pairs := make([]discovery.KVPair, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if addr, ok := entryAddress(s.prefix, string(kv.Key)); ok {
			pairs = append(pairs, discovery.KVPair{Key: addr, Value: string(kv.Value)})
		}
	}
	return pairs, nil
}

// entryAddress returns the server address of key, an entry exactly one level below prefix
// (which ends with a slash); anything else is not an entry.
func entryAddress(prefix, key string) (string, bool) {
	addr, ok := strings.CutPrefix(key, prefix)
	if !ok || addr == "" || strings.Contains(addr, "/") {
		return "", false
	}
	return addr, true
}

// Watch implements registry.Source. The etcd client re-establishes a watch whose
// connection broke by itself, silently and for as long as it takes; so that an unreachable
// cluster is reported (and the Discovery says its list may be stale), Watch also reads from
// the cluster every RefreshInterval and returns when a read fails within Timeout. The
// watch requires a leader: a member cut off from its cluster ends it.
func (s *source) Watch(ctx context.Context, changed func()) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	probe := time.NewTicker(s.settings.RefreshInterval)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case resp, ok := <-wch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("etcd: the watch of %s ended", s.prefix)
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("etcd: watching %s: %w", s.prefix, err)
			}
			if resp.Canceled {
				return fmt.Errorf("etcd: the watch of %s was cancelled", s.prefix)
			}
			if resp.Created || len(resp.Events) > 0 {
				changed()
			}
		case <-probe.C:
			if err := s.probe(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// probe makes one linearizable read, which needs the cluster to have a leader and answer
// within Timeout.
func (s *source) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.settings.Timeout)
	defer cancel()
	if _, err := s.cli.Get(ctx, s.prefix, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd: the cluster does not answer (watch of %s): %w", s.prefix, err)
	}
	return nil
}
