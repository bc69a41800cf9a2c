package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// TestGoldenRequestBytes: the client's 43rd call (seq 42) on a connection is, byte for byte,
// the annotated request of PROTOCOL.md, and every earlier one differs only in its seq.
func TestGoldenRequestBytes(t *testing.T) {
	ln := testsvc.Listen(t)
	defer ln.Close()
	frames := make(chan []byte, 64)
	fake := make(chan error, 1)
	go func() {
		fake <- func() error {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			defer nc.Close()
			for {
				frame, err := testsvc.ReadFrame(nc)
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				frames <- frame
				m := protocol.NewMessage()
				if err := m.DecodeBytes(frame, 0); err != nil {
					return err
				}
				m.SetMessageType(protocol.Response)
				m.Metadata = nil
				m.Payload = []byte(`{"C":132}`)
				if _, err := nc.Write(m.Encode()); err != nil {
					return err
				}
			}
		}()
	}()

	opt := client.DefaultOption
	opt.SerializeType = protocol.JSON
	c := client.NewClient(opt)
	if err := c.Connect("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	ctx := client.WithMetadata(context.Background(), map[string]string{"k": "v"})
	for i := range 43 {
		var r testsvc.Reply
		if err := c.Call(ctx, "Arith.Mul", &testsvc.Args{A: 11, B: 12}, &r); err != nil || r.C != 132 {
			t.Fatalf("call %d: %d, %v", i, r.C, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testsvc.Recv(t, fake, "the fake server to end"); err != nil {
		t.Fatalf("fake server: %v", err)
	}
	close(frames)
	var got [][]byte
	for f := range frames {
		got = append(got, f)
	}
	if len(got) != 43 {
		t.Fatalf("server got %d frames, want 43", len(got))
	}
	if !bytes.Equal(got[42], testsvc.GoldenRequest) {
		t.Fatalf("43rd request\n got % x\nwant % x", got[42], testsvc.GoldenRequest)
	}
	for i, f := range got {
		want := append([]byte(nil), testsvc.GoldenRequest...)
		binary.BigEndian.PutUint64(want[4:], uint64(i))
		if !bytes.Equal(f, want) {
			t.Fatalf("request %d\n got % x\nwant % x", i, f, want)
		}
	}
}
