package client

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// DialWebSocket connects to a server's WebSocket endpoint at /_rpcx_ (ws, or wss with the
// Option's TLSConfig, or the system roots if it has none) and carries frames in binary
// messages, as rpcx does. address is host:port.
func DialWebSocket(ctx context.Context, network, address string, opt *Option) (net.Conn, error) {
	scheme := "ws"
	hc := http.DefaultClient
	if network == "wss" {
		scheme = "wss"
		if opt.TLSConfig != nil {
			hc = &http.Client{Transport: &http.Transport{TLSClientConfig: opt.TLSConfig.Clone()}}
		}
	} else if network != "ws" {
		return nil, errors.New("brisk: DialWebSocket dials ws or wss, not " + network)
	}
	wc, resp, err := websocket.Dial(ctx, scheme+"://"+address+RPCXPath, &websocket.DialOptions{HTTPClient: hc})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	// The connection outlives ctx, which bounds only the dial.
	return websocket.NetConn(context.Background(), wc, websocket.MessageBinary), nil
}
