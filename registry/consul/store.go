package consul

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/registry"
)

// store is the registry.Store of one server address. The Registrar serialises its calls,
// and every request carries the call's context, so nothing outlives a call.
type store struct {
	cli      *api.Client
	settings registry.Settings
	address  string
	ttl      time.Duration // the session's TTL, within Consul's bounds

	session string // the current session's ID; "" until created or after it was lost

	// catalog is nil unless the store also registers in the service catalog; it holds the
	// services registered there (true) so Close can deregister what Delete could not.
	catalog map[string]bool
}

func (s *store) key(service string) string {
	return kvKey(registry.Key(s.settings.BasePath, service, s.address))
}

func wopts(ctx context.Context) *api.WriteOptions { return (&api.WriteOptions{}).WithContext(ctx) }
func qopts(ctx context.Context) *api.QueryOptions { return (&api.QueryOptions{}).WithContext(ctx) }

// ensureSession creates the session if there is none.
func (s *store) ensureSession(ctx context.Context) error {
	if s.session != "" {
		return nil
	}
	id, _, err := s.cli.Session().Create(&api.SessionEntry{
		Name:      "brisk " + s.address,
		Behavior:  api.SessionBehaviorDelete,
		TTL:       s.ttl.String(),
		LockDelay: lockDelay,
	}, wopts(ctx))
	if err != nil {
		return fmt.Errorf("consul: creating a session: %w", err)
	}
	if id == "" {
		return errors.New("consul: creating a session: no ID in the answer")
	}
	s.session = id
	return nil
}

// sessionLost tells whether Consul no longer knows the current session.
func (s *store) sessionLost(ctx context.Context) (bool, error) {
	se, _, err := s.cli.Session().Renew(s.session, wopts(ctx))
	if err != nil {
		return false, fmt.Errorf("consul: renewing session %s: %w", s.session, err)
	}
	return se == nil, nil // Renew answers nil on 404: no such session
}

// Put implements registry.Store.
func (s *store) Put(ctx context.Context, service, value string) error {
	if err := s.ensureSession(ctx); err != nil {
		return err
	}
	if err := s.put(ctx, service, value); err != nil {
		return err
	}
	return s.register(ctx, service, value)
}

// put writes the marker keys, then acquires the entry with the session. If the acquisition
// fails because the session is gone, it creates a new one and tries again.
func (s *store) put(ctx context.Context, service, value string) error {
	kv := s.cli.KV()
	markers := []*api.KVPair{
		{Key: kvKey(s.settings.BasePath), Value: []byte(basePathData)},
		{Key: kvKey(registry.ServicePath(s.settings.BasePath, service)), Value: []byte(service)},
	}
	for _, m := range markers {
		if _, err := kv.Put(m, wopts(ctx)); err != nil {
			return fmt.Errorf("consul: writing %s: %w", m.Key, err)
		}
	}
	err := s.acquire(ctx, service, value)
	if err == nil {
		return nil
	}
	lost, lerr := s.sessionLost(ctx)
	if lerr != nil || !lost {
		return err
	}
	s.settings.Logger.Info("brisk registry: Consul session lost, creating a new one", "session", s.session)
	s.session = ""
	if err := s.ensureSession(ctx); err != nil {
		return err
	}
	return s.acquire(ctx, service, value)
}

// acquire writes the entry held by the session. An entry held by another session at the
// same address (a crashed process whose session has not expired yet) is stale: it is
// deleted and acquired again.
func (s *store) acquire(ctx context.Context, service, value string) error {
	kv := s.cli.KV()
	key := s.key(service)
	pair := &api.KVPair{Key: key, Value: []byte(value), Session: s.session}
	for attempt := 0; ; attempt++ {
		ok, _, err := kv.Acquire(pair, wopts(ctx))
		if err != nil {
			return fmt.Errorf("consul: acquiring %s with session %s: %w", key, s.session, err)
		}
		if ok {
			return nil
		}
		cur, _, err := kv.Get(key, qopts(ctx))
		if err != nil {
			return fmt.Errorf("consul: reading %s: %w", key, err)
		}
		if attempt > 0 || cur == nil || cur.Session == "" || cur.Session == s.session {
			// Not held by someone else: the lock delay of an invalidated session.
			return fmt.Errorf("consul: could not acquire %s with session %s (lock delay?)", key, s.session)
		}
		s.settings.Logger.Info("brisk registry: replacing a Consul key held by another session",
			"key", key, "session", cur.Session)
		if _, _, err := kv.DeleteCAS(cur, wopts(ctx)); err != nil {
			return fmt.Errorf("consul: deleting stale %s: %w", key, err)
		}
	}
}

// Delete implements registry.Store. It deletes the key only if the session holds it: a key
// of another session at the same address belongs to another process.
func (s *store) Delete(ctx context.Context, service string) error {
	var errs []error
	if s.session != "" {
		kv := s.cli.KV()
		key := s.key(service)
		cur, _, err := kv.Get(key, qopts(ctx))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("consul: reading %s: %w", key, err))
		case cur != nil && cur.Session == s.session:
			if _, _, err := kv.DeleteCAS(cur, wopts(ctx)); err != nil {
				errs = append(errs, fmt.Errorf("consul: deleting %s: %w", key, err))
			}
		}
	}
	errs = append(errs, s.deregister(ctx, service))
	return errors.Join(errs...)
}

// Refresh implements registry.Store: it renews the session, or, if Consul lost it (or
// there is none yet), creates a new one and writes every entry again; with the session
// alive, it writes again the entries that are missing, not held by the session or changed.
// Then it passes the catalog checks.
func (s *store) Refresh(ctx context.Context, entries map[string]string) error {
	if s.session != "" {
		lost, err := s.sessionLost(ctx)
		if err != nil {
			return err
		}
		if lost {
			s.settings.Logger.Info("brisk registry: Consul session lost, creating a new one and writing every entry again",
				"session", s.session, "address", s.address)
			s.session = ""
		}
	}
	if s.session == "" && len(entries) == 0 {
		return nil // nothing to advertise: no session needed yet
	}
	var errs []error
	if s.session == "" {
		if err := s.ensureSession(ctx); err != nil {
			return err
		}
		for service, value := range entries {
			errs = append(errs, s.put(ctx, service, value))
		}
	} else {
		kv := s.cli.KV()
		for service, value := range entries {
			key := s.key(service)
			cur, _, err := kv.Get(key, qopts(ctx))
			if err != nil {
				errs = append(errs, fmt.Errorf("consul: reading %s: %w", key, err))
				continue
			}
			if cur == nil || cur.Session != s.session || string(cur.Value) != value {
				s.settings.Logger.Info("brisk registry: writing a lost Consul entry again", "key", key)
				errs = append(errs, s.put(ctx, service, value))
			}
		}
	}
	errs = append(errs, s.passChecks(ctx, entries))
	return errors.Join(errs...)
}

// Close implements registry.Store: it destroys the session, which deletes any key it still
// holds, and deregisters catalog services a failed Delete left behind.
func (s *store) Close(ctx context.Context) error {
	var errs []error
	if s.session != "" {
		if _, err := s.cli.Session().Destroy(s.session, wopts(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("consul: destroying session %s: %w", s.session, err))
		}
		s.session = ""
	}
	for service := range s.catalog {
		errs = append(errs, s.deregister(ctx, service))
	}
	return errors.Join(errs...)
}
