package client

import (
	"context"

	"github.com/brisk-rpc/brisk/protocol"
)

// Subscribe asks the server to push this connection every message it publishes to topic
// (server.Publish). Pushes arrive through Option.PushHandler or Option.PushChan, in the
// order the server sent them; a gap in their sequence numbers means the server dropped
// pushes under a drop-oldest policy. The subscription ends with the connection.
func (c *Client) Subscribe(ctx context.Context, topic string) error {
	var ok bool
	return c.Call(ctx, protocol.PushService+".Subscribe", topic, &ok)
}

// Unsubscribe ends a subscription made with Subscribe.
func (c *Client) Unsubscribe(ctx context.Context, topic string) error {
	var ok bool
	return c.Call(ctx, protocol.PushService+".Unsubscribe", topic, &ok)
}
