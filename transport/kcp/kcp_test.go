package kcp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	kcpgo "github.com/xtaci/kcp-go/v5"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	briskkcp "github.com/brisk-rpc/brisk/transport/kcp"
)

// The conformance suite (conformance_test.go) covers calls, errors, metadata, oneway,
// heartbeats, push, concurrency, large payloads, Shutdown, client Close (the server's read
// timeout dropping the silent client included) and XClient over KCP, plain and with TLS;
// these tests cover what is KCP's own: its options, the dial probe, lingering close, a
// dead server, and the TLS listener.

// TestOptions: calls and a payload of many segments work with a block cipher and FEC
// (with and without TLS on top) and with non-default KCP settings on both sides. The
// conformance suite covers the defaults.
func TestOptions(t *testing.T) {
	block, err := kcpgo.NewAESBlockCrypt([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	aesFEC := []briskkcp.Option{briskkcp.WithBlockCrypt(block), briskkcp.WithFEC(10, 3)}
	payload := make([]byte, 256<<10)
	_, _ = rand.Read(payload)
	for _, tc := range []struct {
		name string
		su   setup
	}{
		{"aes+fec", setup{opts: aesFEC}},
		{"aes+fec+tls", setup{opts: aesFEC, tls: true}},
		{"tuned", setup{opts: []briskkcp.Option{briskkcp.WithNoDelay(0, 20, 0, 0), briskkcp.WithWindowSize(64, 64), briskkcp.WithMTU(500)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, tc.su)
			c := connect(t, e.addr, e.opt)
			var r testsvc.Reply
			if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 7, B: 8}, &r); err != nil || r.C != 56 {
				t.Fatalf("Mul(7, 8) = %d, %v", r.C, err)
			}
			var got conformance.Blob
			if err := c.Call(context.Background(), "Probe.Echo", &conformance.Blob{Data: payload}, &got); err != nil {
				t.Fatalf("Echo of %d bytes: %v", len(payload), err)
			}
			if !bytes.Equal(got.Data, payload) {
				t.Fatalf("Echo returned %d bytes that differ from the %d sent", len(got.Data), len(payload))
			}
		})
	}
}

// TestOnewayThenClose: a oneway call written just before Close still reaches the server
// (the closed session lingers to send what was written).
func TestOnewayThenClose(t *testing.T) {
	e := newEnv(t)
	c := connect(t, e.addr, e.opt)
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

// TestHeartbeatDetectsDeadServer: KCP cannot tell that the server closed; the client's
// heartbeat does, and ends the calls in flight with a transport error.
func TestHeartbeatDetectsDeadServer(t *testing.T) {
	e := newEnv(t)
	opt := e.opt
	opt.Heartbeat = true
	opt.HeartbeatInterval = 10 * time.Millisecond
	opt.MaxWaitForHeartbeat = 100 * time.Millisecond
	c := connect(t, e.addr, opt)
	call := c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: 1, B: 2}, &testsvc.Reply{}, nil)
	testsvc.Recv(t, e.a.Entered, "the call to enter its handler")
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if done := testsvc.Recv(t, call.Done, "the call to end"); !client.IsTransportError(done.Error) {
		t.Fatalf("call in flight at Close: %v, want a transport error", done.Error)
	}
}

// TestDialFailures: every failed dial is a TransportError bounded by the dial context,
// whether nobody answers the probe or the TLS handshake, the block key differs, or only
// one side uses TLS.
func TestDialFailures(t *testing.T) {
	certs := conformance.NewCerts(t)
	plain := listen(t, nil)
	secure := listen(t, certs.ServerTLS())
	otherKey, err := kcpgo.NewAESBlockCrypt([]byte("fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr string
		tls  bool
		opts []briskkcp.Option
	}{
		{"closed port", testsvc.FreeUDPAddr(t), false, nil},
		{"closed port, tls", testsvc.FreeUDPAddr(t), true, nil},
		{"wrong block key", plain.Addr().String(), false, []briskkcp.Option{briskkcp.WithBlockCrypt(otherKey)}},
		{"tls client, plain server", plain.Addr().String(), true, nil},
		{"plain client, tls server", secure.Addr().String(), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := client.DefaultOption
			if tt.tls {
				opt.TLSConfig = certs.ClientTLS()
			}
			opt.Dialers = map[string]client.DialFunc{briskkcp.Network: briskkcp.Dial(tt.opts...)}
			c := client.NewClient(opt)
			defer c.Close()
			const limit = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			if err := c.ConnectContext(ctx, briskkcp.Network, tt.addr); !client.IsTransportError(err) {
				t.Fatalf("Connect: %v, want a *client.TransportError", err)
			}
			if elapsed := time.Since(start); elapsed > limit+time.Second {
				t.Fatalf("Connect took %v with a %v deadline", elapsed, limit)
			}
		})
	}
}

// TestWithoutProbe: without the probe a dial succeeds at once, server or not (KCP has no
// handshake); calls then fail at their deadline.
func TestWithoutProbe(t *testing.T) {
	opt := client.DefaultOption
	opt.Dialers = map[string]client.DialFunc{briskkcp.Network: briskkcp.Dial(briskkcp.WithoutProbe())}
	c := connect(t, testsvc.FreeUDPAddr(t), opt)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var r testsvc.Reply
	if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{}, &r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to nobody: %v, want DeadlineExceeded", err)
	}
	// And with a server there, it works.
	e := newEnv(t)
	c = connect(t, e.addr, opt)
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{A: 4, B: 5}, &r); err != nil || r.C != 20 {
		t.Fatalf("Mul: %d, %v", r.C, err)
	}
}

// TestListenerSlowPeer: with TLS, a peer that never finishes its handshake does not hold up
// Accept for the others; Close ends it.
func TestListenerSlowPeer(t *testing.T) {
	certs := conformance.NewCerts(t)
	ln := listen(t, certs.ServerTLS())
	slow, err := kcpgo.DialWithOptions(ln.Addr().String(), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte{0x16, 0x03, 0x01}); err != nil { // the start of a TLS record
		t.Fatal(err)
	}

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
	opt := client.DefaultOption
	opt.TLSConfig = certs.ClientTLS()
	nc, err := briskkcp.Dial()(context.Background(), briskkcp.Network, ln.Addr().String(), &opt)
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
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
}
