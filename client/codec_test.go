package client_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Doc is the JSON and MsgPack test value.
type Doc struct {
	Text string
	N    int
}

// Echo answers each codec's value, changed so the answer proves the handler ran.
type Echo struct{}

func (Echo) Raw(ctx context.Context, args []byte, reply *[]byte) error {
	*reply = append(bytes.ToUpper(args), '!')
	return nil
}

func (Echo) JSON(ctx context.Context, args *Doc, reply *Doc) error {
	*reply = Doc{Text: strings.ToUpper(args.Text), N: args.N + 1}
	return nil
}

func (Echo) MsgPack(ctx context.Context, args *Doc, reply *Doc) error {
	return Echo{}.JSON(ctx, args, reply)
}

func (Echo) Proto(ctx context.Context, args *structpb.Struct, reply *structpb.Struct) error {
	proto.Merge(reply, args)
	reply.Fields["text"] = structpb.NewStringValue(strings.ToUpper(args.Fields["text"].GetStringValue()))
	reply.Fields["n"] = structpb.NewNumberValue(args.Fields["n"].GetNumberValue() + 1)
	return nil
}

func (Echo) Thrift(ctx context.Context, args *testsvc.ThriftText, reply *testsvc.ThriftText) error {
	reply.Text = strings.ToUpper(args.Text)
	return nil
}

// codecCase calls one Echo method with a value carrying text and checks the answer.
type codecCase struct {
	name   string
	st     protocol.SerializeType
	method string
	call   func(t *testing.T, c *client.Client, text string)
}

var codecCases = []codecCase{
	{"raw", protocol.SerializeNone, "Echo.Raw", func(t *testing.T, c *client.Client, text string) {
		var r []byte
		if err := c.Call(context.Background(), "Echo.Raw", []byte(text), &r); err != nil {
			t.Fatal(err)
		}
		if string(r) != strings.ToUpper(text)+"!" {
			t.Fatalf("got %.40q", r)
		}
	}},
	{"json", protocol.JSON, "Echo.JSON", func(t *testing.T, c *client.Client, text string) {
		var r Doc
		if err := c.Call(context.Background(), "Echo.JSON", &Doc{Text: text, N: 41}, &r); err != nil {
			t.Fatal(err)
		}
		if r != (Doc{Text: strings.ToUpper(text), N: 42}) {
			t.Fatalf("got %.40q %d", r.Text, r.N)
		}
	}},
	{"protobuf", protocol.ProtoBuffer, "Echo.Proto", func(t *testing.T, c *client.Client, text string) {
		args, err := structpb.NewStruct(map[string]any{"text": text, "n": 41, "keep": true})
		if err != nil {
			t.Fatal(err)
		}
		r := new(structpb.Struct)
		if err := c.Call(context.Background(), "Echo.Proto", args, r); err != nil {
			t.Fatal(err)
		}
		want, _ := structpb.NewStruct(map[string]any{"text": strings.ToUpper(text), "n": 42, "keep": true})
		if !proto.Equal(r, want) {
			t.Fatalf("got %.80v", r)
		}
	}},
	{"msgpack", protocol.MsgPack, "Echo.MsgPack", func(t *testing.T, c *client.Client, text string) {
		var r Doc
		if err := c.Call(context.Background(), "Echo.MsgPack", &Doc{Text: text, N: 41}, &r); err != nil {
			t.Fatal(err)
		}
		if r != (Doc{Text: strings.ToUpper(text), N: 42}) {
			t.Fatalf("got %.40q %d", r.Text, r.N)
		}
	}},
	{"thrift", protocol.Thrift, "Echo.Thrift", func(t *testing.T, c *client.Client, text string) {
		var r testsvc.ThriftText
		if err := c.Call(context.Background(), "Echo.Thrift", &testsvc.ThriftText{Text: text}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Text != strings.ToUpper(text) {
			t.Fatalf("got %.40q", r.Text)
		}
	}},
}

// TestCodecsEndToEnd calls through every codec, with and without gzip, with payloads below
// and above the compression threshold, and checks on the wire which frames were compressed.
func TestCodecsEndToEnd(t *testing.T) {
	s := server.NewServer()
	if err := s.RegisterName("Echo", Echo{}, ""); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	texts := map[string]string{
		"small": "hello brisk",
		"large": strings.Repeat("brisk speaks rpcx ", 400), // 7 KiB, very compressible
	}
	for _, cc := range codecCases {
		for _, size := range []string{"small", "large"} {
			for _, gzip := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/gzip=%v", cc.name, size, gzip), func(t *testing.T) {
					opt := client.DefaultOption
					opt.SerializeType = cc.st
					if gzip {
						opt.CompressType = protocol.Gzip
					}
					c, rec := testsvc.ConnectRecording(t, addr, opt)
					cc.call(t, c, texts[size])

					wantCompressed := gzip && size == "large"
					out, in := rec.Written(), rec.ReadFrames()
					if len(out) != 1 || len(in) != 1 {
						t.Fatalf("%d frames written, %d read; want 1 and 1", len(out), len(in))
					}
					for _, f := range []struct {
						dir   string
						frame []byte
						flags byte
					}{
						{"request", out[0], 0x00},
						{"response", in[0], 0x80},
					} {
						flags := f.flags
						if wantCompressed {
							flags |= byte(protocol.Gzip) << 2
						}
						if f.frame[2] != flags || f.frame[3] != byte(cc.st)<<4 {
							t.Errorf("%s flags 0x%02x serialize 0x%02x; want 0x%02x 0x%02x", f.dir, f.frame[2], f.frame[3], flags, byte(cc.st)<<4)
						}
						if wantCompressed && len(f.frame) > len(texts[size])/4 {
							t.Errorf("%s frame of %d bytes is not compressed", f.dir, len(f.frame))
						}
						if !wantCompressed && size == "large" && len(f.frame) < len(texts[size]) {
							t.Errorf("%s frame of %d bytes is smaller than its payload", f.dir, len(f.frame))
						}
					}
				})
			}
		}
	}
}
