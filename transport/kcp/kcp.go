// Package kcp carries brisk (and rpcx) connections over KCP, a reliable ARQ protocol on
// UDP tuned for low latency, using github.com/xtaci/kcp-go/v5.
//
// Server:
//
//	s := server.NewServer(server.WithListenFunc("kcp", briskkcp.Listen()))
//	s.Register(new(Arith), "")
//	err := s.Serve("kcp", "0.0.0.0:8972")
//
// Client:
//
//	opt := client.DefaultOption
//	opt.Dialers = map[string]client.DialFunc{"kcp": briskkcp.Dial()}
//	opt.Heartbeat = true // KCP cannot tell that the server went away (see below)
//	c := client.NewClient(opt)
//	err := c.Connect("kcp", "127.0.0.1:8972")
//
// An XClient dials registry addresses such as "kcp@127.0.0.1:8972" with the same Option.
//
// # Defaults
//
// Sessions are tuned for interactive traffic such as games: NoDelay(1, 10, 2, 1) (no
// delay mode, 10 ms internal clock, fast resend after 2 duplicate ACKs, no congestion
// window), windows of DefaultWindow packets each way, an MTU of DefaultMTU, stream mode
// (the rpcx byte stream is packed into full segments), ACKs sent at once, and neither
// encryption nor FEC. WithNoDelay, WithWindowSize, WithMTU, WithBlockCrypt and WithFEC
// change them; the client and the server must agree on the block cipher, its key and the
// FEC shards.
//
// rpcx's KCP transport (built with the "kcp" tag) requires a BlockCrypt and uses FEC with
// 10 data and 3 parity shards: to talk to it, give both sides WithBlockCrypt with the same
// cipher and key and WithFEC(10, 3).
//
// # Connecting
//
// KCP has no handshake: a dial succeeds whether or not a server is there. So, unless
// WithoutProbe is given, Dial sends a heartbeat frame (part of the rpcx protocol; brisk
// and rpcx servers answer it) and returns once it is answered, failing when the dial
// context ends first. A dial to a port nobody serves therefore fails at the context's
// deadline (client Option.ConnectTimeout, 5 s by default).
//
// # TLS
//
// kcp-go has no TLS of its own. When the server has a TLS config (server.WithTLSConfig),
// every accepted session is wrapped in TLS (tls.Server; the handshake runs in its own
// goroutine, bounded by HandshakeTimeout, so a slow peer does not hold up Accept); when the
// client Option has a TLSConfig, Dial wraps the session in tls.Client and the handshake
// replaces the probe. Both sides must agree: this is brisk's own arrangement, which rpcx's
// KCP transport does not share (it relies on the BlockCrypt for confidentiality).
//
// # Closing and dead peers
//
// KCP has no FIN: closing a session tells the peer nothing. A client sees a server that
// closed or died only through Option.Heartbeat (MaxWaitForHeartbeat), and a server sees a
// client that went away only through server.WithReadTimeout; use both. Close returns at
// once; the session lingers for three retransmission timeouts (50 ms to CloseTimeout) so
// that what was written just before Close can still be sent and resent, then ends. kcp-go
// does not report acknowledgements, so this is best effort on a lossy path.
//
// Closing a listener stops it accepting; sessions it has accepted keep working until they
// are closed (so that Server.Shutdown can drain them), and the UDP socket is closed with
// the last of them.
//
// # Background goroutines
//
// kcp-go starts, when the package is loaded, a process-wide timer scheduler
// (kcp.SystemTimedSched: one goroutine per CPU plus one) that drives every session; it
// never ends. Apart from it, every goroutine of a session or listener ends when it is
// closed. kcp-go does not log.
package kcp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	kcpgo "github.com/xtaci/kcp-go/v5"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/acceptq"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Network is the name this package's transport is usually registered under, and the
// network part of a registry address ("kcp@host:port").
const Network = "kcp"

// Defaults of a session's settings.
const (
	DefaultWindow = 512  // send and receive window, in packets
	DefaultMTU    = 1350 // bytes per UDP datagram, leaving room for tunnels
)

// HandshakeTimeout bounds a server-side TLS handshake over KCP.
const HandshakeTimeout = 10 * time.Second

// CloseTimeout is the longest a closed session lingers to send what was written before
// Close.
const CloseTimeout = time.Second

// Option changes a setting of Listen or Dial.
type Option func(*config)

type config struct {
	block                            kcpgo.BlockCrypt
	dataShards, parityShards         int
	noDelay, interval, resend, noCWD int
	sndWnd, rcvWnd                   int
	mtu                              int
	noProbe                          bool
}

func newConfig(opts []Option) *config {
	c := &config{
		noDelay: 1, interval: 10, resend: 2, noCWD: 1,
		sndWnd: DefaultWindow, rcvWnd: DefaultWindow,
		mtu: DefaultMTU,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithBlockCrypt encrypts every packet with block, for example
// kcp.NewAESBlockCrypt(key) with a 16, 24 or 32 byte key. Both sides need the same.
func WithBlockCrypt(block kcpgo.BlockCrypt) Option { return func(c *config) { c.block = block } }

// WithFEC adds Reed-Solomon forward error correction: parityShards parity packets for
// every dataShards data packets. Both sides need the same.
func WithFEC(dataShards, parityShards int) Option {
	return func(c *config) { c.dataShards, c.parityShards = dataShards, parityShards }
}

// WithNoDelay sets KCP's nodelay, interval (ms), fast resend and no-congestion-window
// settings (see kcp.UDPSession.SetNoDelay); the default is (1, 10, 2, 1).
func WithNoDelay(noDelay, interval, resend, noCongestionWindow int) Option {
	return func(c *config) {
		c.noDelay, c.interval, c.resend, c.noCWD = noDelay, interval, resend, noCongestionWindow
	}
}

// WithWindowSize sets the send and receive windows in packets (default DefaultWindow).
func WithWindowSize(send, receive int) Option {
	return func(c *config) { c.sndWnd, c.rcvWnd = send, receive }
}

// WithMTU sets the largest UDP payload a session sends (default DefaultMTU).
func WithMTU(mtu int) Option { return func(c *config) { c.mtu = mtu } }

// WithoutProbe makes Dial return as soon as the session exists, without waiting for the
// server to answer a heartbeat (see the package doc). It has no effect on Listen, nor when
// the client uses TLS.
func WithoutProbe() Option { return func(c *config) { c.noProbe = true } }

func (c *config) tune(s *kcpgo.UDPSession) {
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetNoDelay(c.noDelay, c.interval, c.resend, c.noCWD)
	s.SetWindowSize(c.sndWnd, c.rcvWnd)
	s.SetMtu(c.mtu)
	s.SetACKNoDelay(true)
}

// Dial returns a client.DialFunc that opens a KCP session to the address, wraps it in TLS
// when the client Option has a TLSConfig, and otherwise probes the server with a
// heartbeat (see the package doc). The dial context bounds all of it.
func Dial(opts ...Option) client.DialFunc {
	cfg := newConfig(opts)
	return func(ctx context.Context, _, address string, opt *client.Option) (net.Conn, error) {
		raddr, err := net.ResolveUDPAddr("udp", address)
		if err != nil {
			return nil, err
		}
		network := "udp4"
		if raddr.IP.To4() == nil {
			network = "udp"
		}
		udp, err := net.ListenUDP(network, nil)
		if err != nil {
			return nil, err
		}
		var conv uint32
		_ = binary.Read(rand.Reader, binary.LittleEndian, &conv)
		s, err := kcpgo.NewConn4(conv, raddr, cfg.block, cfg.dataShards, cfg.parityShards, true, udp)
		if err != nil {
			_ = udp.Close()
			return nil, err
		}
		cfg.tune(s)
		kc := newConn(s, nil)
		var nc net.Conn = kc
		// End the handshake or probe when ctx ends, however it is blocked.
		// (Closing the session wakes a blocked Read; a new deadline set from another
		// goroutine would race with kcp-go's Read, which reads it without a lock.)
		stop := context.AfterFunc(ctx, kc.abort)
		if d, ok := ctx.Deadline(); ok {
			_ = kc.SetDeadline(d)
		}
		if opt.TLSConfig != nil {
			tc := opt.TLSConfig
			if tc.ServerName == "" {
				tc = tc.Clone()
				tc.ServerName = hostOf(address)
			}
			tlsConn := tls.Client(nc, tc)
			err = tlsConn.HandshakeContext(ctx)
			nc = tlsConn
		} else if !cfg.noProbe {
			err = probe(nc)
		}
		stop()
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			_ = nc.Close()
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("brisk/transport/kcp: no answer from %s: %w", address, cerr)
			}
			return nil, err
		}
		_ = nc.SetDeadline(time.Time{})
		return nc, nil
	}
}

func hostOf(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return address
	}
	return host
}

// probeSeq is the seq of the probe heartbeat; the client's calls never see its answer.
const probeSeq = 1<<64 - 1

// probe sends a heartbeat request and reads its answer, exactly one frame.
func probe(nc net.Conn) error {
	m := protocol.NewMessage()
	m.SetHeartbeat(true)
	m.SetSerializeType(protocol.MsgPack)
	m.SetSeq(probeSeq)
	if _, err := nc.Write(m.Encode()); err != nil {
		return err
	}
	var h [protocol.HeaderSize]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		return err
	}
	hdr := protocol.Header(h[:12])
	if !hdr.CheckMagic() || hdr.MessageType() != protocol.Response || !hdr.IsHeartbeat() || hdr.Seq() != probeSeq {
		return fmt.Errorf("brisk/transport/kcp: the server did not answer the probe heartbeat (got % x)", h[:])
	}
	total := binary.BigEndian.Uint32(h[12:])
	if total > 1<<20 {
		return fmt.Errorf("brisk/transport/kcp: probe answer of %d bytes", total)
	}
	_, err := io.CopyN(io.Discard, nc, int64(total))
	return err
}

// Listen returns a server.ListenFunc that serves KCP on a UDP address, wrapping every
// session in TLS when the server has a TLS config.
func Listen(opts ...Option) server.ListenFunc {
	cfg := newConfig(opts)
	return func(ctx context.Context, _, address string, tlsConf *tls.Config) (net.Listener, error) {
		var lc net.ListenConfig
		pc, err := lc.ListenPacket(ctx, "udp", address)
		if err != nil {
			return nil, err
		}
		kl, err := kcpgo.ServeConn(cfg.block, cfg.dataShards, cfg.parityShards, pc)
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		l := &listener{cfg: cfg, tls: tlsConf, pc: pc, kl: kl, loopDone: make(chan struct{})}
		l.q = acceptq.New(l.closeSocket)
		go l.acceptLoop()
		return l, nil
	}
}

// listener takes sessions from kcp-go, wraps them in TLS (each handshake in a goroutine)
// when the server has a TLS config, and hands them to Accept through q, which also keeps
// the UDP socket open until the last accepted session has closed.
type listener struct {
	cfg      *config
	tls      *tls.Config
	pc       net.PacketConn
	kl       *kcpgo.Listener
	q        *acceptq.Queue
	loopDone chan struct{} // closed when acceptLoop returns
}

// acceptLoop takes sessions from kcp-go until the socket is closed. After Close it
// closes every session that still arrives (KCP has no way to refuse one).
func (l *listener) acceptLoop() {
	defer close(l.loopDone)
	for {
		s, err := l.kl.AcceptKCP()
		if err != nil {
			l.q.Fail(err) // ignored if the listener was closed
			l.drain()
			return
		}
		if !l.q.Admit() {
			_ = s.Close()
			continue
		}
		l.cfg.tune(s)
		c := newConn(s, l.q.Release)
		if l.tls == nil {
			if !l.q.Deliver(c) {
				_ = c.Close()
			}
			continue
		}
		if !l.q.Go(func(ctx context.Context) { l.handshake(ctx, c) }) {
			_ = c.Close()
		}
	}
}

// handshake runs the server side of TLS over c, bounded by HandshakeTimeout and ended by
// the listener's Close, and hands the TLS connection to Accept.
func (l *listener) handshake(ctx context.Context, c *conn) {
	tc := tls.Server(c, l.tls)
	_ = c.SetDeadline(time.Now().Add(HandshakeTimeout))
	stop := context.AfterFunc(ctx, c.abort)
	err := tc.Handshake()
	stop()
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if !l.q.Deliver(tc) {
		_ = tc.Close()
	}
}

// drain closes the sessions left in kcp-go's accept queue once the socket is closed.
// kcp-go picks at random between a queued session and its closed signal, so keep asking
// until it has said closed several times in a row.
func (l *listener) drain() {
	for misses := 0; misses < 16; {
		s, err := l.kl.AcceptKCP()
		if err != nil {
			misses++
			continue
		}
		misses = 0
		_ = s.Close()
	}
}

// closeSocket ends kcp-go's read loop and the accept loop, and waits for the latter; the
// Queue calls it once, when the listener is closed and its last accepted session has
// closed.
func (l *listener) closeSocket() {
	_ = l.pc.Close()
	_ = l.kl.Close()
	<-l.loopDone
}

// Accept returns the next session (after its TLS handshake, with TLS).
func (l *listener) Accept() (net.Conn, error) { return l.q.Accept() }

// Close stops accepting, ends the TLS handshakes in progress and closes the sessions not
// yet returned by Accept. Sessions already returned keep working; the socket is closed
// with the last of them.
func (l *listener) Close() error { return l.q.Close() }

// Addr returns the UDP address the listener is bound to.
func (l *listener) Addr() net.Addr { return l.pc.LocalAddr() }

// conn is a KCP session as a net.Conn whose Close reports a second close as net.ErrClosed
// and whose reads and writes after Close fail with net.ErrClosed.
type conn struct {
	*kcpgo.UDPSession
	release func() // tells the listener the session is closed; nil if dialled
	closed  atomic.Bool
}

func newConn(s *kcpgo.UDPSession, release func()) *conn {
	return &conn{UDPSession: s, release: release}
}

// Read reads from the session.
func (c *conn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.UDPSession.Read(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Write writes to the session.
func (c *conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.UDPSession.Write(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Close returns at once; the session itself is closed in the background after a linger of
// a few retransmission timeouts (see lingerFor), so that what was written just before
// Close, such as a server's last response or a oneway call, can still be sent and resent.
// Later reads and writes fail with net.ErrClosed; a Read already blocked without a
// deadline returns when the session ends (kcp-go does not wake it for a new deadline), so
// a client's or server's Close takes up to that linger.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	// No SetReadDeadline to wake a blocked Read: kcp-go's Read reads the deadline without
	// a lock, so setting it from this goroutine would race; the Read returns when the
	// session closes after the linger.
	linger := lingerFor(time.Duration(c.GetRTO()) * time.Millisecond)
	go func() {
		timer := time.NewTimer(linger)
		<-timer.C
		_ = c.UDPSession.Close()
		if c.release != nil {
			c.release()
		}
	}()
	return nil
}

// abort closes the session at once, without lingering, for a dial or handshake given up:
// closing wakes a Read blocked in kcp-go, which a new deadline may not do safely.
func (c *conn) abort() {
	if c.closed.Swap(true) {
		return
	}
	_ = c.UDPSession.Close()
	if c.release != nil {
		c.release()
	}
}

// lingerFor is how long a closed session keeps sending: KCP has no FIN and kcp-go does not
// say when everything written has been acknowledged, so wait three retransmission
// timeouts, between 50 ms and CloseTimeout.
func lingerFor(rto time.Duration) time.Duration {
	return min(max(3*rto, 50*time.Millisecond), CloseTimeout)
}

// SetDeadline sets the read and write deadlines; after Close it does nothing.
func (c *conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.UDPSession.SetDeadline(t)
}

// SetReadDeadline sets the read deadline; after Close it does nothing.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.UDPSession.SetReadDeadline(t)
}
