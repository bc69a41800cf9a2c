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
	// Dialers adds or replaces the ways Connect opens a connection, by network name (the
	// part before "@" in a registry address). The built-ins are tcp, tcp4, tcp6, unix
	// (with TLS when TLSConfig is set), http (HTTP CONNECT to /_rpcx_), ws and wss
	// (WebSocket at /_rpcx_); transport packages such as transport/quic and transport/kcp
	// provide more.
	Dialers map[string]DialFunc

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
	// StreamWindow is how many bytes of the server's messages the client may hold for each
	// stream before its Recv takes them (default 1 MiB; at least 256 KiB).
	StreamWindow int64

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

	// Middleware wraps every call (see Middleware); the first is the outermost.
	Middleware []Middleware

	// The settings below are used by XClient only.

	// Retries is how many more attempts Failover and Failtry make after a failed one
	// (DefaultOption: 3). A call is retried only if it cannot have reached the handler, or
	// if its method is listed in IdempotentMethods; service errors and the caller's
	// cancellation are never retried.
	Retries int
	// IdempotentMethods lists the methods that are safe to run twice, which may therefore be
	// retried even after their request was sent.
	IdempotentMethods []string
	// RetryBackoff is the first retry's delay ceiling, doubled for each further retry up to
	// RetryBackoffMax; the actual delay is drawn at random below it (full jitter).
	RetryBackoff    time.Duration // default 10 ms
	RetryBackoffMax time.Duration // default 1 s
	// RetryBudget is the share of calls that may be retried, so that retries cannot
	// multiply the load of an outage (default 0.2: one retry per five calls, with a reserve
	// of ten retries).
	RetryBudget float64
	// BackupLatency is how long Failbackup waits for an answer before asking a second
	// server (default 10 ms).
	BackupLatency time.Duration
	// BreakerThreshold is how many consecutive failed calls (transport errors and timeouts)
	// open a server's circuit breaker (default 5; negative disables breakers). An open
	// breaker keeps calls away from the server for BreakerCooldown, then lets one probe in.
	BreakerThreshold int
	BreakerCooldown  time.Duration // default 5 s
	// ConnsPerServer is how many multiplexed connections an XClient keeps to each server
	// (default 1).
	ConnsPerServer int
	// RedialBackoff is the wait after a failed dial before the server is dialled again,
	// doubled after each further failure up to RedialBackoffMax. Meanwhile the server gets no
	// calls.
	RedialBackoff    time.Duration // default 100 ms
	RedialBackoffMax time.Duration // default 5 s
	// Selector is the selector of SelectByUser.
	Selector Selector
	// Latitude and Longitude locate the caller for the Closest selector.
	Latitude, Longitude float64
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
	StreamWindow:        1 << 20,
	Retries:             3,
	RetryBackoff:        10 * time.Millisecond,
	RetryBackoffMax:     time.Second,
	RetryBudget:         0.2,
	BackupLatency:       10 * time.Millisecond,
	BreakerThreshold:    5,
	BreakerCooldown:     5 * time.Second,
	ConnsPerServer:      1,
	RedialBackoff:       100 * time.Millisecond,
	RedialBackoffMax:    5 * time.Second,
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
	if o.StreamWindow <= 0 {
		o.StreamWindow = DefaultOption.StreamWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.RetryBackoff = orDefault(o.RetryBackoff, DefaultOption.RetryBackoff)
	o.RetryBackoffMax = orDefault(o.RetryBackoffMax, DefaultOption.RetryBackoffMax)
	o.BackupLatency = orDefault(o.BackupLatency, DefaultOption.BackupLatency)
	o.BreakerCooldown = orDefault(o.BreakerCooldown, DefaultOption.BreakerCooldown)
	o.RedialBackoff = orDefault(o.RedialBackoff, DefaultOption.RedialBackoff)
	o.RedialBackoffMax = orDefault(o.RedialBackoffMax, DefaultOption.RedialBackoffMax)
	if o.BreakerThreshold == 0 {
		o.BreakerThreshold = DefaultOption.BreakerThreshold
	}
	if o.ConnsPerServer <= 0 {
		o.ConnsPerServer = 1
	}
	if o.RetryBudget <= 0 {
		o.RetryBudget = DefaultOption.RetryBudget
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	return o
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
