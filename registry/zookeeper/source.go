package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

// source is the registry.Source of one service.
type source struct {
	conn     *zk.Conn
	settings registry.Settings
	path     string // <basePath>/<service>
}

// List implements registry.Source. A service node that does not exist yet is an empty list.
func (s *source) List(ctx context.Context) ([]discovery.KVPair, error) {
	return await(ctx, func() ([]discovery.KVPair, error) {
		children, _, err := s.conn.Children(s.path)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil
		}
		if err != nil {
			return nil, wrap("listing", s.path, err)
		}
		pairs := make([]discovery.KVPair, 0, len(children))
		for _, child := range children {
			p := s.path + "/" + child
			data, _, err := s.conn.Get(p)
			if errors.Is(err, zk.ErrNoNode) {
				continue // gone since the listing
			}
			if err != nil {
				return nil, wrap("reading", p, err)
			}
			pairs = append(pairs, discovery.KVPair{Key: child, Value: string(data)})
		}
		return pairs, nil
	})
}

// pollInterval is how often a watch checks that the connection still has its session.
func (s *source) pollInterval() time.Duration {
	return min(s.settings.RefreshInterval, time.Second)
}

// Watch implements registry.Source. It keeps one watch on the children of the service
// node (or on its creation while it does not exist) and one on the data of each child, and
// renews each when it fires. go-zookeeper keeps watches across a reconnection to the same
// session but tells nobody but the connection's event channel, which belongs to the
// caller, that the connection is down; so the watch polls the connection's state and
// returns when it has no session.
func (s *source) Watch(ctx context.Context, changed func()) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	events := make(chan zk.Event)
	forward := func(ch <-chan zk.Event) {
		wg.Go(func() {
			select {
			case ev := <-ch:
				select {
				case events <- ev:
				case <-ctx.Done():
				}
			case <-ctx.Done():
			}
		})
	}
	// timeout bounds one request; a watch has no other deadline.
	timeout := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, s.settings.Timeout)
	}

	childrenWatched := false         // a children (or creation) watch is set on s.path
	dataWatched := map[string]bool{} // children with a data watch set
	toWatch := map[string]struct{}{} // children whose data watch must be set (again)
	poll := time.NewTicker(s.pollInterval())
	defer poll.Stop()
	for {
		if !childrenWatched {
			rctx, rcancel := timeout()
			w, err := await(rctx, func() (childrenWatch, error) { return s.watchChildren() })
			rcancel()
			if err != nil {
				return err
			}
			forward(w.ch)
			childrenWatched = true
			for _, child := range w.children {
				if !dataWatched[child] {
					toWatch[child] = struct{}{}
				}
			}
		}
		for child := range toWatch {
			p := s.path + "/" + child
			rctx, rcancel := timeout()
			ch, err := await(rctx, func() (<-chan zk.Event, error) {
				_, _, ch, err := s.conn.GetW(p)
				return ch, err
			})
			rcancel()
			switch {
			case errors.Is(err, zk.ErrNoNode):
				// Gone: the children watch fires (or fired) for it.
			case err != nil:
				return wrap("watching", p, err)
			default:
				forward(ch)
				dataWatched[child] = true
			}
			delete(toWatch, child)
		}
		changed()

	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-poll.C:
				if st := s.conn.State(); st != zk.StateHasSession {
					return fmt.Errorf("zookeeper: connection lost (%v)", st)
				}
			case ev := <-events:
				if ev.Type == zk.EventNotWatching {
					return fmt.Errorf("zookeeper: watch on %s lost: %w", s.path, ev.Err)
				}
				if ev.Path == s.path {
					childrenWatched = false
				} else if child, ok := strings.CutPrefix(ev.Path, s.path+"/"); ok {
					// Changed or deleted: watch it again if it is (still, or again) there.
					delete(dataWatched, child)
					toWatch[child] = struct{}{}
				}
				break wait
			}
		}
	}
}

type childrenWatch struct {
	children []string
	ch       <-chan zk.Event
}

// watchChildren lists the children of s.path and watches them, or, if s.path does not
// exist, watches for its creation and returns no children.
func (s *source) watchChildren() (childrenWatch, error) {
	for {
		children, _, ch, err := s.conn.ChildrenW(s.path)
		if err == nil {
			return childrenWatch{children, ch}, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return childrenWatch{}, wrap("watching", s.path, err)
		}
		exists, _, ch, err := s.conn.ExistsW(s.path)
		if err != nil {
			return childrenWatch{}, wrap("watching", s.path, err)
		}
		if !exists {
			return childrenWatch{ch: ch}, nil
		}
		// Created in between: its data watch (ch) is of no use; watch its children.
	}
}
