package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/registry"
)

// acl is the ACL of every node written: open, as rpcx's nodes are.
var acl = zk.WorldACL(zk.PermAll)

// store is the registry.Store of one server address.
type store struct {
	conn     *zk.Conn
	settings registry.Settings
	address  string

	// sem is held by the one sequence of requests running at a time. A sequence whose
	// caller gave up (its context ended) keeps it until it finishes, so a later call never
	// overtakes it: a Delete cannot be undone by a late Put.
	sem chan struct{}
}

// do runs f holding sem; it gives up waiting (for sem or for f) when ctx ends.
func (s *store) do(ctx context.Context, f func() error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("zookeeper: %w", ctx.Err())
	}
	_, err := await(ctx, func() (struct{}, error) {
		defer func() { <-s.sem }()
		return struct{}{}, f()
	})
	return err
}

func (s *store) key(service string) string {
	return registry.Key(s.settings.BasePath, service, s.address)
}

// Put implements registry.Store.
func (s *store) Put(ctx context.Context, service, value string) error {
	return s.do(ctx, func() error { return s.put(service, value) })
}

// put writes the markers, then the entry.
func (s *store) put(service, value string) error {
	base := s.settings.BasePath
	if err := s.ensure(base, []byte(basePathData)); err != nil {
		return err
	}
	if err := s.ensure(registry.ServicePath(base, service), []byte(service)); err != nil {
		return err
	}
	return s.putEntry(s.key(service), []byte(value))
}

// ensure makes p a persistent node holding data, creating missing parents empty. A nil
// data leaves an existing node's data alone.
func (s *store) ensure(p string, data []byte) error {
	cur, stat, err := s.conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) {
		if parent := path.Dir(p); parent != "/" {
			if err := s.ensure(parent, nil); err != nil {
				return err
			}
		}
		_, err = s.conn.Create(p, data, 0, acl)
		if !errors.Is(err, zk.ErrNodeExists) { // else another server created it meanwhile
			return wrap("creating", p, err)
		}
		cur, stat, err = s.conn.Get(p)
	}
	if err != nil {
		return wrap("reading", p, err)
	}
	if data == nil || bytes.Equal(cur, data) {
		return nil
	}
	_, err = s.conn.Set(p, data, stat.Version)
	if errors.Is(err, zk.ErrBadVersion) {
		return nil // someone else wrote it meanwhile; markers are the same everywhere
	}
	return wrap("writing", p, err)
}

// putEntry makes p an ephemeral node of this session holding data. A node of another
// session (a crashed process whose session has not expired yet, an expired session of
// ours, or a persistent node) is stale: it is deleted and created again.
func (s *store) putEntry(p string, data []byte) error {
	cur, stat, err := s.conn.Get(p)
	switch {
	case errors.Is(err, zk.ErrNoNode):
	case err != nil:
		return wrap("reading", p, err)
	case s.owns(stat):
		if bytes.Equal(cur, data) {
			return nil
		}
		// Our own node: change its data in place, so clients never see it missing.
		_, err = s.conn.Set(p, data, stat.Version)
		return wrap("writing", p, err)
	default:
		if err := s.conn.Delete(p, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return wrap("deleting stale", p, err)
		}
	}
	_, err = s.conn.Create(p, data, zk.FlagEphemeral, acl)
	return wrap("creating", p, err)
}

// owns tells whether the node is an ephemeral node of the connection's current session.
func (s *store) owns(stat *zk.Stat) bool {
	sid := s.conn.SessionID()
	return sid != 0 && stat.EphemeralOwner == sid
}

// Delete implements registry.Store. It deletes only a node of this session: a node of
// another session at the same address belongs to another process.
func (s *store) Delete(ctx context.Context, service string) error {
	return s.do(ctx, func() error {
		p := s.key(service)
		ok, stat, err := s.conn.Exists(p)
		if err != nil {
			return wrap("reading", p, err)
		}
		if !ok || !s.owns(stat) {
			return nil
		}
		err = s.conn.Delete(p, stat.Version)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		return wrap("deleting", p, err)
	})
}

// Refresh implements registry.Store: the session keeps the nodes alive, so it only checks
// that each node still exists, holds its value and belongs to the current session, and
// writes again those that do not (the session expired, someone deleted or changed them).
func (s *store) Refresh(ctx context.Context, entries map[string]string) error {
	return s.do(ctx, func() error {
		var errs []error
		for service, value := range entries {
			p := s.key(service)
			cur, stat, err := s.conn.Get(p)
			if err == nil && s.owns(stat) && string(cur) == value {
				continue
			}
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				errs = append(errs, wrap("reading", p, err))
				continue
			}
			s.settings.Logger.Info("brisk registry: writing a lost ZooKeeper entry again", "node", p)
			if err := s.put(service, value); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// Close implements registry.Store. The caller owns the connection, so there is nothing to
// release; Close only waits for a request sequence still running, so none outlives it.
func (s *store) Close(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}: // held for good: the Registrar makes no call after Close
		return nil
	case <-ctx.Done():
		return fmt.Errorf("zookeeper: closing: %w", ctx.Err())
	}
}

func wrap(what, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("zookeeper: %s %s: %w", what, p, err)
}
