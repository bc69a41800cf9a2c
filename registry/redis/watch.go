package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// notifyParam is the server setting that enables keyspace notifications.
const notifyParam = "notify-keyspace-events"

// Watch implements registry.Source: with keyspace notifications if the server has or
// accepts them, by polling otherwise.
func (s *source) Watch(ctx context.Context, changed func()) error {
	db, ok := s.notificationDB()
	if !ok {
		return s.poll(ctx, changed)
	}
	enabled, err := s.enableNotifications(ctx)
	if err != nil {
		return err
	}
	if !enabled {
		return s.poll(ctx, changed)
	}
	return s.subscribe(ctx, db, changed)
}

// notificationDB returns the database whose keyspace channel carries the service's keys,
// or false when notifications cannot cover them: a Redis Cluster or Ring publishes each
// node's notifications on that node only.
func (s *source) notificationDB() (int, bool) {
	switch s.cli.(type) {
	case *goredis.ClusterClient, *goredis.Ring:
		return 0, false
	}
	if o, ok := s.cli.(interface{ Options() *goredis.Options }); ok {
		return o.Options().DB, true
	}
	return 0, false
}

// enableNotifications reports whether the server publishes the keyspace events the watch
// needs, turning them on if it may. A server refusing CONFIG (managed Redis, ACLs, a renamed
// command) gives false and no error; an unreachable server gives the error.
func (s *source) enableNotifications(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.settings.Timeout)
	defer cancel()
	cfg, err := s.cli.ConfigGet(ctx, notifyParam).Result()
	if err != nil {
		return false, refused(err, "CONFIG GET")
	}
	flags, found := cfg[notifyParam]
	if found && hasNotifyFlags(flags) {
		return true, nil
	}
	if err := s.cli.ConfigSet(ctx, notifyParam, flags+"KEA").Err(); err != nil {
		return false, refused(err, "CONFIG SET")
	}
	return true, nil
}

// refused turns a reply error of the server (NOPERM, unknown command) into "not allowed:
// poll" (nil) and keeps any other error (the server is unreachable).
func refused(err error, what string) error {
	var replyErr goredis.Error
	if errors.As(err, &replyErr) && !strings.HasPrefix(replyErr.Error(), "LOADING") {
		return nil
	}
	return fmt.Errorf("registry/redis: %s %s: %w", what, notifyParam, err)
}

// hasNotifyFlags reports whether flags (as CONFIG GET returns them) publish keyspace
// events (K) for SET (string: $), DEL and EXPIRE (generic: g), expiry (x) and eviction (e).
// A stands for every class of event.
func hasNotifyFlags(flags string) bool {
	if !strings.Contains(flags, "K") {
		return false
	}
	if strings.Contains(flags, "A") {
		return true
	}
	for _, c := range "g$xe" {
		if !strings.ContainsRune(flags, c) {
			return false
		}
	}
	return true
}

// poll signals a change every RefreshInterval.
func (s *source) poll(ctx context.Context, changed func()) error {
	changed()
	t := time.NewTicker(s.settings.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			changed()
		}
	}
}

// subscribe signals a change once subscribed to the keyspace events of the service's keys,
// on every event but "expire", and every TTL as a safety net (a notification is lost while the watch is
// re-established, and an expiry event comes when Redis gets round to expiring the key). A
// lost connection, or one that stops answering PING, ends it with an error.
func (s *source) subscribe(ctx context.Context, db int, changed func()) error {
	pattern := "__keyspace@" + strconv.Itoa(db) + "__:" + globEscape(s.prefix) + "*"
	ps := s.cli.PSubscribe(ctx) // no pattern yet, so that the subscription's error is seen
	defer ps.Close()
	sctx, cancel := context.WithTimeout(ctx, s.settings.Timeout)
	defer cancel()
	if err := ps.PSubscribe(sctx, pattern); err != nil {
		if ctx.Err() != nil {
			return nil // the watch ended with its context, not with the registry
		}
		return fmt.Errorf("registry/redis: subscribing to %s: %w", pattern, err)
	}
	for confirmed := false; !confirmed; {
		msg, err := ps.ReceiveTimeout(sctx, s.settings.Timeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("registry/redis: subscribing to %s: %w", pattern, err)
		}
		_, confirmed = msg.(*goredis.Subscription)
	}
	cancel()
	changed()

	failed := make(chan error, 1)
	pong := make(chan struct{}, 1)
	go func() {
		for {
			msg, err := ps.Receive(ctx)
			if err != nil {
				failed <- err
				return
			}
			switch msg := msg.(type) {
			case *goredis.Message:
				// The payload is the event. "expire" is a refresh extending a key's
				// life (see store.Refresh), which changes no list.
				if msg.Payload != "expire" {
					changed()
				}
			case *goredis.Pong:
				select {
				case pong <- struct{}{}:
				default:
				}
			}
		}
	}()
	stop := func() {
		_ = ps.Close() // ends the Receive above
		<-failed
	}
	safety := time.NewTicker(s.settings.TTL)
	defer safety.Stop()
	pinged := false // a PING is waiting for its PONG
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-failed:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("registry/redis: keyspace notifications: %w", err)
		case <-pong:
			pinged = false
		case <-safety.C:
			if pinged {
				stop()
				return errors.New("registry/redis: keyspace notifications: the connection stopped answering PING")
			}
			changed()
			pctx, cancel := context.WithTimeout(ctx, s.settings.Timeout)
			err := ps.Ping(pctx)
			cancel()
			if err != nil {
				stop()
				return fmt.Errorf("registry/redis: keyspace notifications: %w", err)
			}
			pinged = true
		}
	}
}
