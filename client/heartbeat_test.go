package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// TestHeartbeatKeepsWorking: with a short interval the client keeps sending heartbeats,
// whatever codec its calls use, the server answers each, and calls keep working.
func TestHeartbeatKeepsWorking(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	for _, st := range []protocol.SerializeType{protocol.MsgPack, protocol.JSON, protocol.ProtoBuffer, protocol.SerializeNone, protocol.Thrift} {
		t.Run(st.String(), func(t *testing.T) {
			opt := client.DefaultOption
			opt.SerializeType = st
			opt.Heartbeat = true
			opt.HeartbeatInterval = 2 * time.Millisecond
			opt.MaxWaitForHeartbeat = testsvc.Bound
			c, rec := testsvc.ConnectRecording(t, addr, opt)
			const beats = 5
			testsvc.Eventually(t, "five answered heartbeats", func() bool { return len(rec.ReadFrames()) >= beats })
			if c.IsShutdown() {
				t.Fatal("the connection ended")
			}
			var prev int64
			for i, f := range rec.Written()[:beats] {
				m := testsvc.DecodeFrame(t, f)
				var ts int64
				if f[2] != 0x40 || f[3] != 0x30 || m.ServicePath != "" || m.ServiceMethod != "" || msgpack.Unmarshal(m.Payload, &ts) != nil {
					t.Fatalf("heartbeat %d: flags 0x%02x serialize 0x%02x %q.%q payload % x", i, f[2], f[3], m.ServicePath, m.ServiceMethod, m.Payload)
				}
				if ts < prev {
					t.Fatalf("heartbeat timestamps go back: %d after %d", ts, prev)
				}
				prev = ts
			}
			for i, f := range rec.ReadFrames()[:beats] {
				if f[2] != 0xC0 {
					t.Fatalf("heartbeat answer %d has flags 0x%02x", i, f[2])
				}
			}
			if st == protocol.MsgPack || st == protocol.JSON {
				mul(t, c, 7, 6)
			}
		})
	}
}

// TestHeartbeatTimeout: a server that stops answering is detected; pending calls fail with a
// transport error that says so.
func TestHeartbeatTimeout(t *testing.T) {
	ln := testsvc.Listen(t)
	defer ln.Close()
	swallowed := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			swallowed <- err
			return
		}
		defer nc.Close()
		_, err = io.Copy(io.Discard, nc) // read everything, answer nothing
		swallowed <- err
	}()
	opt := client.DefaultOption
	opt.Heartbeat = true
	opt.HeartbeatInterval = 5 * time.Millisecond
	opt.MaxWaitForHeartbeat = 50 * time.Millisecond
	c := testsvc.Connect(t, ln.Addr().String(), opt)
	call := c.Go(context.Background(), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply), nil)
	done := testsvc.Recv(t, call.Done, "the pending call to fail")
	var te *client.TransportError
	if !errors.As(done.Error, &te) || te.Op != "heartbeat" || !errors.Is(done.Error, client.ErrHeartbeatTimeout) {
		t.Fatalf("pending call: %v, want a heartbeat TransportError", done.Error)
	}
	if !c.IsShutdown() {
		t.Fatal("connection still considered alive")
	}
	if err := c.Call(context.Background(), "Arith.Mul", &testsvc.Args{}, new(testsvc.Reply)); !errors.Is(err, client.ErrHeartbeatTimeout) {
		t.Fatalf("later call: %v", err)
	}
	if err := testsvc.Recv(t, swallowed, "the fake server to see the close"); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("fake server: %v", err)
	}
}
