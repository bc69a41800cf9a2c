package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
)

// rawRequest builds a request for Arith.method with a payload already encoded.
func rawRequest(method string, st protocol.SerializeType, payload []byte) *protocol.Message {
	m := protocol.NewMessage()
	m.ServicePath, m.ServiceMethod = "Arith", method
	m.SetSerializeType(st)
	m.SetSeq(777)
	m.Payload = payload
	return m
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientInvoke(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	mp, _ := msgpack.Marshal(testsvc.Args{A: 6, B: 7})
	zipped := protocol.Compress(nil, jsonOf(t, map[string]any{"A": 2, "B": 21, "Pad": strings.Repeat("x", 2000)}))
	tests := []struct {
		name   string
		req    *protocol.Message
		decode func([]byte) (testsvc.Reply, error)
	}{
		{"json", rawRequest("Mul", protocol.JSON, jsonOf(t, testsvc.Args{A: 6, B: 7})), func(b []byte) (r testsvc.Reply, err error) {
			err = json.Unmarshal(b, &r)
			return r, err
		}},
		{"msgpack", rawRequest("Mul", protocol.MsgPack, mp), func(b []byte) (r testsvc.Reply, err error) {
			err = msgpack.Unmarshal(b, &r)
			return r, err
		}},
		{"gzip request", func() *protocol.Message {
			m := rawRequest("Mul", protocol.JSON, zipped)
			m.SetCompressType(protocol.Gzip)
			return m
		}(), func(b []byte) (r testsvc.Reply, err error) {
			err = json.Unmarshal(b, &r)
			return r, err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.req.Clone()
			resp, err := c.Invoke(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.MessageType() != protocol.Response || resp.MessageStatusType() != protocol.Normal ||
				resp.Seq() != 777 || resp.ServicePath != "Arith" || resp.ServiceMethod != "Mul" ||
				resp.SerializeType() != tc.req.SerializeType() || resp.CompressType() != protocol.None {
				t.Errorf("response header % x, %s.%s", resp.Header[:], resp.ServicePath, resp.ServiceMethod)
			}
			reply, err := tc.decode(resp.Payload)
			if err != nil || reply.C != 42 {
				t.Errorf("reply %+v, %v", reply, err)
			}
			if !reflect.DeepEqual(before, tc.req) {
				t.Errorf("Invoke modified the request")
			}
		})
	}
}

func TestClientInvokeServiceErrorOnewayHeartbeat(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	ctx := context.Background()

	resp, err := c.Invoke(ctx, rawRequest("Div", protocol.JSON, []byte(`{"A":1}`)))
	if err != nil || resp.MessageStatusType() != protocol.Error || resp.Metadata[protocol.ServiceError] != "divide by zero" {
		t.Errorf("service error: %v, %+v", err, resp)
	}

	ow := rawRequest("Notify", protocol.JSON, []byte(`{"A":5}`))
	ow.SetOneway(true)
	if resp, err := c.Invoke(ctx, ow); resp != nil || err != nil {
		t.Errorf("oneway: %v, %v", resp, err)
	}
	if got := testsvc.Recv(t, a.Notified, "the oneway call"); got.A != 5 {
		t.Errorf("Notify got %+v", got)
	}

	hb := protocol.NewMessage()
	hb.SetHeartbeat(true)
	hb.SetSerializeType(protocol.MsgPack)
	hb.SetSeq(5)
	hb.Payload = []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 1}
	resp, err = c.Invoke(ctx, hb)
	if err != nil || !resp.IsHeartbeat() || resp.MessageType() != protocol.Response || string(resp.Payload) != string(hb.Payload) || resp.Seq() != 5 {
		t.Errorf("heartbeat: %v, %+v", err, resp)
	}
}

// TestClientInvokeMetadata: the request's metadata, plus the context's, the client's auth
// token (unless the request has one) and the context's deadline.
func TestClientInvokeMetadata(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	opt := client.DefaultOption
	opt.AuthToken = "client-token"
	c := testsvc.Connect(t, addr, opt)
	ctx, cancel := context.WithTimeout(client.WithMetadata(context.Background(), map[string]string{"ctx": "1", "both": "ctx"}), testsvc.Bound)
	defer cancel()

	req := rawRequest("EchoMetadata", protocol.JSON, []byte("{}"))
	req.Metadata = map[string]string{"req": "2", "both": "req"}
	resp, err := c.Invoke(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]string
	if err := json.Unmarshal(resp.Payload, &md); err != nil {
		t.Fatal(err)
	}
	if md["ctx"] != "1" || md["req"] != "2" || md["both"] != "req" || md[protocol.AuthKey] != "client-token" || md[protocol.ServerTimeout] == "" {
		t.Errorf("server saw %v", md)
	}
	if resp.Metadata["echo-req"] != "2" {
		t.Errorf("response metadata %v", resp.Metadata)
	}
	if len(req.Metadata) != 2 {
		t.Errorf("the request's metadata was modified: %v", req.Metadata)
	}

	req.Metadata = map[string]string{protocol.AuthKey: "own", protocol.ServerTimeout: "1000"}
	resp, err = c.Invoke(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	md = nil
	_ = json.Unmarshal(resp.Payload, &md)
	if md[protocol.AuthKey] != "own" || md[protocol.ServerTimeout] != "1000" {
		t.Errorf("server saw %v; want the request's own token and shorter timeout", md)
	}
}

func TestClientInvokeEnds(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, rawRequest("Block", protocol.JSON, []byte(`{"A":1}`)))
		done <- err
	}()
	testsvc.Recv(t, a.Entered, "the handler")
	cancel()
	if err := testsvc.Recv(t, done, "Invoke to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	a.Release <- struct{}{} // the server knows nothing of the cancellation: let the handler end

	if _, err := client.NewClient(client.DefaultOption).Invoke(context.Background(), rawRequest("Mul", protocol.JSON, nil)); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("not connected: %v", err)
	}
	_ = c.Close()
	if _, err := c.Invoke(context.Background(), rawRequest("Mul", protocol.JSON, nil)); !errors.Is(err, client.ErrShutdown) {
		t.Errorf("closed: %v", err)
	}
	if _, err := c.Invoke(context.Background(), nil); err == nil {
		t.Error("nil request: no error")
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	ln := testsvc.Listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func xclientOver(t *testing.T, mode client.FailMode, addrs ...string) *client.XClient {
	t.Helper()
	var pairs []discovery.KVPair
	for _, a := range addrs {
		pairs = append(pairs, discovery.KVPair{Key: "tcp@" + a})
	}
	d, err := discovery.NewMultipleServers(pairs)
	if err != nil {
		t.Fatal(err)
	}
	x := client.NewXClient("Arith", mode, client.RoundRobin, d, client.DefaultOption)
	t.Cleanup(func() {
		_ = x.Close()
		_ = d.Close()
	})
	return x
}

func TestXClientInvoke(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	ctx := context.Background()
	for _, mode := range []client.FailMode{client.Failover, client.Failfast, client.Failtry, client.Failbackup} {
		t.Run(mode.String(), func(t *testing.T) {
			x := xclientOver(t, mode, deadAddr(t), addr)
			okCalls := 0
			for range 4 {
				resp, err := x.Invoke(ctx, rawRequest("Mul", protocol.JSON, []byte(`{"A":3,"B":5}`)))
				if err != nil {
					if mode == client.Failover || mode == client.Failbackup {
						t.Fatalf("%v: %v", mode, err)
					}
					if !client.IsTransportError(err) || errors.Is(err, gateway.ErrUnavailable) {
						t.Errorf("dead server: %v", err)
					}
					continue
				}
				okCalls++
				if string(resp.Payload) != `{"C":15}` || resp.Seq() != 777 {
					t.Errorf("response %q seq %d", resp.Payload, resp.Seq())
				}
			}
			if okCalls == 0 {
				t.Error("no call reached the live server")
			}
			// A service error is a response, not retried, with a nil error.
			resp, err := x.Invoke(ctx, rawRequest("Div", protocol.JSON, []byte(`{"A":1}`)))
			if mode != client.Failfast && mode != client.Failtry && (err != nil || resp.MessageStatusType() != protocol.Error) {
				t.Errorf("service error: %v %+v", err, resp)
			}
		})
	}
}

func TestXClientInvokeServicePath(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	x := xclientOver(t, client.Failover, addr)
	ctx := context.Background()

	req := rawRequest("Mul", protocol.JSON, []byte(`{"A":2,"B":2}`))
	req.ServicePath = ""
	if resp, err := x.Invoke(ctx, req); err != nil || string(resp.Payload) != `{"C":4}` || resp.ServicePath != "Arith" {
		t.Errorf("empty service path: %v %+v", err, resp)
	}
	req.ServicePath = "Other"
	resp, err := x.Invoke(ctx, req)
	if err != nil || resp.MessageStatusType() != protocol.Error || resp.Metadata[protocol.ServiceError] != "brisk: can't find service Other" ||
		resp.Seq() != 777 || resp.MessageType() != protocol.Response {
		t.Errorf("other service: %v %+v", err, resp)
	}
}

func TestXClientInvokeUnavailable(t *testing.T) {
	x := xclientOver(t, client.Failover)
	_, err := x.Invoke(context.Background(), rawRequest("Mul", protocol.JSON, nil))
	if !errors.Is(err, client.ErrNoServer) || !errors.Is(err, gateway.ErrUnavailable) || !strings.Contains(err.Error(), "no server") {
		t.Errorf("no server: %v", err)
	}
	_ = x.Close()
	_, err = x.Invoke(context.Background(), rawRequest("Mul", protocol.JSON, nil))
	if !errors.Is(err, client.ErrShutdown) || !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("closed: %v", err)
	}
}

// TestXClientInvokeOneway: a oneway request returns once written and runs the handler.
func TestXClientInvokeOneway(t *testing.T) {
	_, a, addr := testsvc.NewArithServer(t)
	x := xclientOver(t, client.Failbackup, addr)
	req := rawRequest("Notify", protocol.JSON, []byte(`{"A":8}`))
	req.SetOneway(true)
	if resp, err := x.Invoke(context.Background(), req); resp != nil || err != nil {
		t.Fatalf("%v %v", resp, err)
	}
	if got := testsvc.Recv(t, a.Notified, "the oneway call"); got.A != 8 {
		t.Errorf("Notify got %+v", got)
	}
}

// lateContext has a deadline that has passed but a timer that never fires: what a caller
// sees when the server's answer beats its own timer by a hair.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestInvokeErrorAfterDeadline: a handler that gave up at the deadline it was sent answers
// with an error; if that answer beats the caller's own timer, Invoke still reports the
// caller's deadline, as Call does, not a service error.
func TestInvokeErrorAfterDeadline(t *testing.T) {
	_, _, addr := testsvc.NewArithServer(t)
	c := testsvc.Connect(t, addr, client.DefaultOption)
	payload, err := json.Marshal(&testsvc.SleepArgs{Millis: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	req := rawRequest("Sleep", protocol.JSON, payload)
	resp, err := c.Invoke(lateContext{context.Background()}, req)
	if !errors.Is(err, context.DeadlineExceeded) || resp != nil {
		t.Fatalf("Invoke = %v, %v; want context.DeadlineExceeded", resp, err)
	}
}
