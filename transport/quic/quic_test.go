package quic_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// The conformance suite (conformance_test.go) covers calls, errors, metadata, oneway,
// heartbeats, push, concurrency, large payloads, Shutdown, client Close and XClient over
// QUIC; these tests cover what is QUIC's own: TLS and ALPN, close semantics and the
// listener.

// TestOnewayThenClose: a oneway call written just before Close still reaches the server
// (Close ends the stream after the data already written).
func TestOnewayThenClose(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t)
	if err := c.Call(context.Background(), "Arith.Notify", &testsvc.Args{A: 9}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testsvc.Recv(t, e.a.Notified, "the oneway call"); got.A != 9 {
		t.Fatalf("notification has A=%d", got.A)
	}
}

// TestServerClose: Server.Close (not Shutdown) closes the QUIC connections, and the
// client ends the calls in flight with a transport error.
func TestServerClose(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t)
	call := c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 2}, &testsvc.Reply{}, nil)
	testsvc.Recv(t, e.a.Entered, "the call to enter its handler")
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if done := testsvc.Recv(t, call.Done, "the call to end"); !client.IsTransportError(done.Error) {
		t.Fatalf("call in flight at Close: %v, want a transport error", done.Error)
	}
}

// TestDialFailures: every failed dial is a TransportError bounded by the dial context.
func TestDialFailures(t *testing.T) {
	certs := conformance.NewCerts(t)
	trusted := listen(t, certs.ServerTLS())
	untrusted := listen(t, conformance.NewCerts(t).ServerTLS()) // another CA
	h3 := certs.ClientTLS()
	h3.NextProtos = []string{"h3"}
	tests := []struct {
		name    string
		addr    string
		opt     client.Option
		wantErr error  // errors.Is target, if any
		wantMsg string // in the error, if any
	}{
		{"closed port", testsvc.FreeUDPAddr(t), dialOption(certs.ClientTLS()), nil, ""},
		{"no TLS config", testsvc.FreeUDPAddr(t), dialOption(nil), briskquic.ErrNoTLSConfig, "TLS config"},
		{"untrusted certificate", untrusted.Addr().String(), dialOption(certs.ClientTLS()), nil, "certificate"},
		{"ALPN mismatch", trusted.Addr().String(), dialOption(h3), nil, "application protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client.NewClient(tt.opt)
			defer c.Close()
			const limit = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			err := c.ConnectContext(ctx, briskquic.Network, tt.addr)
			if !client.IsTransportError(err) {
				t.Fatalf("Connect: %v, want a *client.TransportError", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Connect: %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Connect: %v, want an error about %q", err, tt.wantMsg)
			}
			if elapsed := time.Since(start); elapsed > limit+time.Second {
				t.Fatalf("Connect took %v with a %v deadline", elapsed, limit)
			}
		})
	}
}

func TestServeNeedsTLSConfig(t *testing.T) {
	s := server.NewServer(server.WithListenFunc(briskquic.Network, briskquic.Listen(nil)))
	defer s.Close()
	err := s.Serve(briskquic.Network, "127.0.0.1:0")
	if !errors.Is(err, briskquic.ErrNoTLSConfig) || !strings.Contains(err.Error(), "TLS config") {
		t.Fatalf("Serve without a TLS config: %v, want ErrNoTLSConfig", err)
	}
}

// TestALPN: brisk peers agree on "brisk"; a peer that offers only "rpcx", as rpcx's QUIC
// client does, is served too. Dial leaves the caller's config alone.
func TestALPN(t *testing.T) {
	certs := conformance.NewCerts(t)
	ln := listen(t, certs.ServerTLS())
	tests := []struct {
		name   string
		protos []string
		want   string
	}{
		{"default", nil, briskquic.ALPN},
		{"rpcx client", []string{"rpcx"}, briskquic.RPCXALPN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := dialOption(certs.ClientTLS())
			opt.TLSConfig.NextProtos = tt.protos
			nc, err := briskquic.Dial(nil)(context.Background(), briskquic.Network, ln.Addr().String(), &opt)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			cs := nc.(interface{ ConnectionState() quicgo.ConnectionState }).ConnectionState()
			if got := cs.TLS.NegotiatedProtocol; got != tt.want {
				t.Fatalf("negotiated %q, want %q", got, tt.want)
			}
			if fmt.Sprint(opt.TLSConfig.NextProtos) != fmt.Sprint(tt.protos) {
				t.Fatalf("Dial changed the caller's NextProtos to %q", opt.TLSConfig.NextProtos)
			}
		})
	}
}

// TestListenerSlowPeer: a peer that completes the QUIC handshake but never opens its stream
// does not hold up Accept for the others; Close ends it.
func TestListenerSlowPeer(t *testing.T) {
	certs := conformance.NewCerts(t)
	ln := listen(t, certs.ServerTLS())
	tc := certs.ClientTLS()
	tc.NextProtos = briskquic.DefaultNextProtos()
	slow, err := quicgo.DialAddr(context.Background(), ln.Addr().String(), tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseWithError(0, "")

	accepted := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 5)
			_, err = io.ReadFull(nc, buf)
			if err == nil && string(buf) != "hello" {
				err = fmt.Errorf("read %q", buf)
			}
			_ = nc.Close()
		}
		accepted <- err
	}()
	opt := dialOption(certs.ClientTLS())
	nc, err := briskquic.Dial(nil)(context.Background(), briskquic.Network, ln.Addr().String(), &opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, accepted, "Accept"); err != nil {
		t.Fatal(err)
	}
	// The stream-less connection is closed with the listener.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	testsvc.Recv(t, slow.Context().Done(), "the connection without a stream to end with the listener")
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
}
