package server

import (
	"context"
	"errors"

	"github.com/brisk-rpc/brisk/protocol"
)

// Subscriptions: a client subscribes its connection to a topic by calling
// protocol.PushService's Subscribe method with the topic name (client.Subscribe does);
// Publish then pushes to every connection subscribed. The service lives under brisk's
// reserved prefix, so rpcx clients that never subscribe are unaffected, and it is not
// advertised in registries.

// Publish pushes a message to every client subscribed to topic, each under the server's
// PushPolicy, and returns how many connections took it; the error joins the failures of
// the others (a slow consumer, a closed connection). md and data are shared by all the
// pushes: do not modify them afterwards.
func (s *Server) Publish(topic, servicePath, serviceMethod string, md map[string]string, data []byte) (int, error) {
	s.topicMu.RLock()
	subs := make([]*conn, 0, len(s.topics[topic]))
	for c := range s.topics[topic] {
		subs = append(subs, c)
	}
	s.topicMu.RUnlock()
	return s.pushAll(subs, servicePath, serviceMethod, md, data)
}

// Broadcast pushes a message to every connected client, as Publish does for a topic. A
// connection counts once it has sent its first frame (until then the server cannot tell
// a brisk client from an HTTP one).
func (s *Server) Broadcast(servicePath, serviceMethod string, md map[string]string, data []byte) (int, error) {
	s.mu.Lock()
	all := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	return s.pushAll(all, servicePath, serviceMethod, md, data)
}

func (s *Server) pushAll(conns []*conn, servicePath, serviceMethod string, md map[string]string, data []byte) (int, error) {
	n := 0
	var errs []error
	for _, c := range conns {
		if err := c.push(servicePath, serviceMethod, md, data); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Subscribers returns how many connections are subscribed to topic.
func (s *Server) Subscribers(topic string) int {
	s.topicMu.RLock()
	defer s.topicMu.RUnlock()
	return len(s.topics[topic])
}

// pushControl answers protocol.PushService's Subscribe and Unsubscribe.
func (s *Server) pushControl(ctx context.Context, inv *Invocation) error {
	cc := fromContext(ctx)
	if cc == nil || cc.conn == nil {
		return errors.New("brisk: subscriptions need a connection (not available over HTTP)")
	}
	s.mu.Lock()
	c := s.conns[cc.conn]
	s.mu.Unlock()
	if c == nil {
		return ErrUnknownConn
	}
	cdc, err := s.codecs.Get(inv.req.SerializeType())
	if err != nil {
		return errors.New("brisk: " + err.Error())
	}
	var topic string
	if err := cdc.Decode(inv.req.Payload, &topic); err != nil || topic == "" {
		return errors.New("brisk: bad arguments: a topic name is required")
	}
	switch inv.ServiceMethod {
	case "Subscribe":
		s.subscribe(c, topic)
	case "Unsubscribe":
		s.unsubscribe(c, topic)
	default:
		return &notFoundError{protocol.TextUnknownMethod + inv.ServiceMethod + " of service " + inv.ServicePath, ErrUnknownMethod}
	}
	return inv.encodeReply(cdc, true)
}

func (s *Server) subscribe(c *conn, topic string) {
	s.topicMu.Lock()
	defer s.topicMu.Unlock()
	if s.topics == nil {
		s.topics = make(map[string]map[*conn]struct{})
	}
	if s.topics[topic] == nil {
		s.topics[topic] = make(map[*conn]struct{})
	}
	s.topics[topic][c] = struct{}{}
	if c.topics == nil {
		c.topics = make(map[string]struct{})
	}
	c.topics[topic] = struct{}{}
}

func (s *Server) unsubscribe(c *conn, topic string) {
	s.topicMu.Lock()
	defer s.topicMu.Unlock()
	delete(s.topics[topic], c)
	if len(s.topics[topic]) == 0 {
		delete(s.topics, topic)
	}
	delete(c.topics, topic)
}

// unsubscribeAll forgets a closed connection's subscriptions.
func (s *Server) unsubscribeAll(c *conn) {
	s.topicMu.Lock()
	defer s.topicMu.Unlock()
	for topic := range c.topics {
		delete(s.topics[topic], c)
		if len(s.topics[topic]) == 0 {
			delete(s.topics, topic)
		}
	}
	c.topics = nil
}
