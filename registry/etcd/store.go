package etcd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/brisk-rpc/brisk/registry"
)

// chunk is how many entries one transaction writes or checks: each takes two operations
// (or comparisons), and etcd refuses transactions of more than 128 (--max-txn-ops).
const chunk = 50

// store is the registry.Store of one server address. The Registrar serialises its calls.
type store struct {
	cli      *clientv3.Client
	settings registry.Settings
	address  string
	ttl      int64 // lease TTL in seconds

	lease   clientv3.LeaseID    // 0 while none is granted (or after it was lost)
	entries map[string]string   // service -> value, to be held under lease
	deletes map[string]struct{} // services whose entry is still to be deleted
}

func (s *store) key(service string) string {
	return registry.Key(s.settings.BasePath, service, s.address)
}

// Put implements registry.Store.
func (s *store) Put(ctx context.Context, service, value string) error {
	s.entries[service] = value
	delete(s.deletes, service)
	if s.lease == 0 {
		return s.grantAndWriteAll(ctx)
	}
	err := s.write(ctx, map[string]string{service: value})
	if lost(err) {
		return s.grantAndWriteAll(ctx)
	}
	return err
}

// Delete implements registry.Store. It deletes the entry only while it is bound to this
// store's lease: an entry under another lease belongs to another process at the same
// address (a restarted server, say).
func (s *store) Delete(ctx context.Context, service string) error {
	delete(s.entries, service)
	if s.lease == 0 {
		return nil // nothing was written under a live lease
	}
	s.deletes[service] = struct{}{}
	return s.deletePending(ctx)
}

// deletePending deletes the entries a failed Delete left.
func (s *store) deletePending(ctx context.Context) error {
	for service := range s.deletes {
		k := s.key(service)
		_, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(k), "=", s.lease)).
			Then(clientv3.OpDelete(k)).
			Commit()
		if err != nil && !lost(err) {
			return fmt.Errorf("etcd: deleting %s: %w", k, err)
		}
		delete(s.deletes, service)
	}
	return nil
}

// Refresh implements registry.Store: it renews the lease, then checks that every entry
// holds its value under the lease and writes back those that do not. A lost lease is
// replaced and every entry written again.
func (s *store) Refresh(ctx context.Context, entries map[string]string) error {
	s.entries = maps.Clone(entries)
	if s.lease == 0 {
		if len(s.entries) == 0 {
			return nil // nothing to keep alive: grant a lease once there is
		}
		return s.grantAndWriteAll(ctx)
	}
	_, err := s.cli.KeepAliveOnce(ctx, s.lease)
	if lost(err) {
		s.settings.Logger.Info("brisk registry: etcd lease lost, writing the entries again",
			"address", s.address, "lease", fmt.Sprintf("%x", int64(s.lease)))
		return s.grantAndWriteAll(ctx)
	}
	if err != nil {
		return fmt.Errorf("etcd: renewing lease %x: %w", int64(s.lease), err)
	}
	if err := s.deletePending(ctx); err != nil {
		return err
	}
	services := slices.Sorted(maps.Keys(s.entries))
	for names := range slices.Chunk(services, chunk) {
		cmps := make([]clientv3.Cmp, 0, 2*len(names))
		for _, service := range names {
			k := s.key(service)
			cmps = append(cmps,
				clientv3.Compare(clientv3.Value(k), "=", s.entries[service]),
				clientv3.Compare(clientv3.LeaseValue(k), "=", s.lease))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Commit()
		if err != nil {
			return fmt.Errorf("etcd: checking the entries of %s: %w", s.address, err)
		}
		if resp.Succeeded {
			continue
		}
		s.settings.Logger.Info("brisk registry: writing lost or changed etcd entries again", "address", s.address)
		part := make(map[string]string, len(names))
		for _, service := range names {
			part[service] = s.entries[service]
		}
		err = s.write(ctx, part)
		if lost(err) {
			return s.grantAndWriteAll(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// grantAndWriteAll grants a new lease and writes every entry with it.
func (s *store) grantAndWriteAll(ctx context.Context) error {
	s.lease = 0
	clear(s.deletes) // their entries went with the old lease
	resp, err := s.cli.Grant(ctx, s.ttl)
	if err != nil {
		return fmt.Errorf("etcd: granting a lease of %ds: %w", s.ttl, err)
	}
	s.lease = resp.ID
	return s.write(ctx, s.entries)
}

// write puts the entries of services with the lease, and the marker keys when they are
// missing or different (so that a refresh that finds them right writes nothing else).
func (s *store) write(ctx context.Context, entries map[string]string) error {
	base := s.settings.BasePath
	services := slices.Sorted(maps.Keys(entries))
	for part := range slices.Chunk(services, chunk) {
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Value(base), "=", basePathValue)}
		markers := []clientv3.Op{clientv3.OpPut(base, basePathValue)}
		puts := make([]clientv3.Op, 0, len(part))
		for _, service := range part {
			sp := registry.ServicePath(base, service)
			cmps = append(cmps, clientv3.Compare(clientv3.Value(sp), "=", service))
			markers = append(markers, clientv3.OpPut(sp, service))
			puts = append(puts, clientv3.OpPut(s.key(service), entries[service], clientv3.WithLease(s.lease)))
		}
		_, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Else(append(markers, puts...)...).Commit()
		if lost(err) {
			return err // the caller grants a new lease
		}
		if err != nil {
			return fmt.Errorf("etcd: writing the entries of %s (%v): %w", s.address, part, err)
		}
	}
	return nil
}

// Close implements registry.Store: it revokes the lease, which deletes any entry still
// bound to it. If etcd cannot be reached, the lease expires on its own after the TTL.
func (s *store) Close(ctx context.Context) error {
	if s.lease == 0 {
		return nil
	}
	_, err := s.cli.Revoke(ctx, s.lease)
	if err != nil && !lost(err) {
		return fmt.Errorf("etcd: revoking lease %x (it expires within %ds): %w", int64(s.lease), s.ttl, err)
	}
	s.lease = 0
	return nil
}

// lost tells whether err says the lease no longer exists.
func lost(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound)
}
