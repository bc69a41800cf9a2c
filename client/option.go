package client

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/protocol"
)

// Option configures a Client. Copy DefaultOption and change what you need:
//
//	opt := client.DefaultOption
//	opt.SerializeType = protocol.JSON
type Option struct {
	// SerializeType is the codec of every call's payload (default MsgPack, as rpcx).
	SerializeType protocol.SerializeType
	// CompressType compresses payloads larger than 1 KiB (default none).
	CompressType protocol.CompressType
	// Codecs maps serialize types to codecs; nil means the built-ins.
	Codecs *codec.Set

	// ConnectTimeout bounds dialling, TLS handshake included (default 5 s).
	ConnectTimeout time.Duration
	// TLSConfig, if set, makes Connect use TLS.
	TLSConfig *tls.Config
	// TCPKeepAlivePeriod is the TCP keep-alive period (default 1 minute; negative disables).
	TCPKeepAlivePeriod time.Duration

	// Heartbeat sends a heartbeat every HeartbeatInterval and closes the connection (failing
	// its calls) when one goes unanswered for MaxWaitForHeartbeat: dead-peer detection for
	// connections that are otherwise idle.
	Heartbeat           bool
	HeartbeatInterval   time.Duration // default 10 s
	MaxWaitForHeartbeat time.Duration // default 30 s

	// MaxMessageSize limits a response frame and a decompressed payload (default 64 MiB).
	MaxMessageSize int
	// ReadBufferSize is the connection's read buffer (default 32 KiB).
	ReadBufferSize int

	// AuthToken, if set, is sent with every call as the __AUTH metadata.
	AuthToken string

	// PushHandler receives messages the server pushes (Server.SendMessage), one at a time in
	// arrival order, on the connection's read loop: it must return promptly. The message is
	// the handler's own.
	PushHandler func(*protocol.Message)
	// PushChan, if set and PushHandler is not, receives pushed messages. A full channel
	// makes the connection wait (backpressure); pushes are never dropped.
	PushChan chan<- *protocol.Message

	// Logger receives connection events (default: nothing is logged).
	Logger *slog.Logger
}

// DefaultOption is the option set most callers want.
var DefaultOption = Option{
	SerializeType:       protocol.MsgPack,
	ConnectTimeout:      5 * time.Second,
	TCPKeepAlivePeriod:  time.Minute,
	HeartbeatInterval:   10 * time.Second,
	MaxWaitForHeartbeat: 30 * time.Second,
	MaxMessageSize:      protocol.DefaultMaxMessageSize,
	ReadBufferSize:      32 << 10,
}

// withDefaults fills in zero values so a partly set Option still works.
func (o Option) withDefaults() Option {
	if o.Codecs == nil {
		o.Codecs = codec.NewSet()
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultOption.ConnectTimeout
	}
	if o.TCPKeepAlivePeriod == 0 {
		o.TCPKeepAlivePeriod = DefaultOption.TCPKeepAlivePeriod
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultOption.HeartbeatInterval
	}
	if o.MaxWaitForHeartbeat <= 0 {
		o.MaxWaitForHeartbeat = DefaultOption.MaxWaitForHeartbeat
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = protocol.DefaultMaxMessageSize
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultOption.ReadBufferSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
