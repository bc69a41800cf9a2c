package quic_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/conformance"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
	briskquic "github.com/brisk-rpc/brisk/transport/quic"
)

// refuseLimit is how soon a dial to a closed listener must fail; the dials below allow
// refuseConnectTimeout, so a dropped handshake would show as a timeout far beyond it.
const (
	refuseLimit          = time.Second
	refuseConnectTimeout = 10 * time.Second
)

// closeSignal is a listener that reports when its Close has returned.
type closeSignal struct {
	net.Listener
	closed chan struct{}
}

func (l *closeSignal) Close() error {
	err := l.Listener.Close()
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return err
}

// connectRefused connects a new client to addr with a ConnectTimeout of
// refuseConnectTimeout and checks that it fails within refuseLimit with a TransportError
// wrapping ErrConnectionRefused.
func connectRefused(t *testing.T, addr string, opt client.Option) {
	t.Helper()
	opt.ConnectTimeout = refuseConnectTimeout
	c := client.NewClient(opt)
	defer c.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Connect(briskquic.Network, addr) }()
	timer := time.NewTimer(refuseLimit)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		err = testsvc.Recv(t, done, "Connect to return")
		t.Fatalf("Connect to a closed listener took %v (> %v): %v", time.Since(start), refuseLimit, err)
	}
	if !client.IsTransportError(err) {
		t.Fatalf("Connect to a closed listener: %v (%T), want a *client.TransportError", err, err)
	}
	if !errors.Is(err, briskquic.ErrConnectionRefused) {
		t.Fatalf("Connect to a closed listener: %v, want it to wrap ErrConnectionRefused", err)
	}
	var te *quicgo.TransportError
	if !errors.As(err, &te) || te.ErrorCode != quicgo.ConnectionRefused {
		t.Fatalf("Connect to a closed listener: %v, want a CONNECTION_REFUSED quic.TransportError", err)
	}
	t.Logf("refused after %v: %v", time.Since(start), err)
}

// TestShutdownRefusesNewConnections: once Server.Shutdown has closed the QUIC listener, a
// new client's Connect fails at once (not after its ConnectTimeout), while the calls in
// flight on an open connection still finish.
func TestShutdownRefusesNewConnections(t *testing.T) {
	certs := conformance.NewCerts(t)
	s := server.NewServer()
	a := testsvc.NewArith()
	if err := s.RegisterName("Arith", a, ""); err != nil {
		t.Fatal(err)
	}
	ln := &closeSignal{Listener: listen(t, certs.ServerTLS()), closed: make(chan struct{})}
	testsvc.ServeOn(t, s, ln)
	e := &env{s: s, a: a, addr: ln.Addr().String(), opt: dialOption(certs.ClientTLS())}
	c := e.connect(t)

	const n = 3
	calls := make([]*client.Call, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Block", &testsvc.Args{A: i, B: 7}, new(testsvc.Reply), nil)
	}
	for range n {
		testsvc.Recv(t, a.Entered, "a call to enter its handler")
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	testsvc.Recv(t, ln.closed, "Shutdown to close the listener")

	connectRefused(t, e.addr, e.opt)
	connectRefused(t, e.addr, e.opt) // and again: the socket keeps refusing

	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with calls in flight", err)
	default:
	}
	close(a.Release)
	for i, call := range calls {
		done := testsvc.Recv(t, call.Done, "an in-flight call to finish")
		if done.Error != nil || done.Reply.(*testsvc.Reply).C != 7*i {
			t.Fatalf("in-flight call %d: %v, reply %+v", i, done.Error, done.Reply)
		}
	}
	if err := testsvc.Recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestClosedListenerRefusesAndDrains: at the listener level, a closed listener refuses new
// connections at once while a connection it accepted keeps working both ways; the socket
// is closed with that connection, after which a dial finds nothing to refuse it.
func TestClosedListenerRefusesAndDrains(t *testing.T) {
	certs := conformance.NewCerts(t)
	ln := listen(t, certs.ServerTLS())
	addr := ln.Addr().String()
	opt := dialOption(certs.ClientTLS())

	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
			nc = nil
		}
		accepted <- nc
	}()
	cc, err := briskquic.Dial(nil)(context.Background(), briskquic.Network, addr, &opt)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := cc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	sc := testsvc.Recv(t, accepted, "Accept")
	if sc == nil {
		t.FailNow()
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	connectRefused(t, addr, opt)

	// The accepted connection still carries data both ways.
	_ = sc.SetDeadline(time.Now().Add(testsvc.Bound))
	_ = cc.SetDeadline(time.Now().Add(testsvc.Bound))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read after listener Close: %q, %v", buf, err)
	}
	if _, err := sc.Write([]byte("pong")); err != nil {
		t.Fatalf("server write after listener Close: %v", err)
	}
	if _, err := io.ReadFull(cc, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read after listener Close: %q, %v", buf, err)
	}

	// Closing the last accepted connection closes the socket: a dial is no longer refused
	// by a QUIC server, it just finds none.
	_ = sc.Close()
	_ = cc.Close()
	testsvc.Eventually(t, "the UDP socket to be released", func() bool {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		_ = pc.Close()
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = briskquic.Dial(nil)(ctx, briskquic.Network, addr, &opt)
	if err == nil || errors.Is(err, briskquic.ErrConnectionRefused) {
		t.Fatalf("dial after the socket closed: %v, want a failure other than a refusal", err)
	}
}
