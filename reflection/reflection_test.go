package reflection_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/reflection"
	"github.com/brisk-rpc/brisk/server"
)

func TestMethod(t *testing.T) {
	l := &reflection.ListReply{Services: []reflection.ServiceInfo{
		{Name: "A", Methods: []reflection.MethodInfo{{Name: "X", Kind: reflection.KindUnary}, {Name: "Y", Kind: reflection.KindStream}}},
		{Name: "B", Methods: []reflection.MethodInfo{{Name: "X", Kind: reflection.KindStream}}},
	}}
	tests := []struct {
		reply           *reflection.ListReply
		service, method string
		wantKind        string // "" means not found
	}{
		{l, "A", "X", reflection.KindUnary},
		{l, "A", "Y", reflection.KindStream},
		{l, "B", "X", reflection.KindStream},
		{l, "B", "Y", ""},
		{l, "C", "X", ""},
		{l, "", "", ""},
		{nil, "A", "X", ""},
		{&reflection.ListReply{}, "A", "X", ""},
	}
	for _, tt := range tests {
		m, ok := tt.reply.Method(tt.service, tt.method)
		if ok != (tt.wantKind != "") || (ok && (m.Kind != tt.wantKind || m.Name != tt.method)) {
			t.Errorf("Method(%q, %q) = %+v, %v; want kind %q", tt.service, tt.method, m, ok, tt.wantKind)
		}
	}
}

func response(status protocol.MessageStatusType, st protocol.SerializeType, md map[string]string, payload string) *protocol.Message {
	m := protocol.NewMessage()
	m.SetMessageType(protocol.Response)
	m.SetMessageStatusType(status)
	m.SetSerializeType(st)
	m.Metadata = md
	m.Payload = []byte(payload)
	return m
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		resp     *protocol.Message
		services int
		err      string
	}{
		{"ok", response(protocol.Normal, protocol.JSON, nil, `{"services":[{"name":"A","metadata":"","methods":[]}]}`), 1, ""},
		{"empty", response(protocol.Normal, protocol.JSON, nil, `{"services":[]}`), 0, ""},
		{"nil", nil, 0, "brisk/reflection: no response"},
		{"service error", response(protocol.Error, protocol.JSON, map[string]string{protocol.ServiceError: "brisk: can't find service _brisk.Reflection"}, ""), 0, "brisk: can't find service _brisk.Reflection"},
		{"other codec", response(protocol.Normal, protocol.MsgPack, nil, "\x80"), 0, "brisk/reflection: the response is in msgpack, not json"},
		{"bad json", response(protocol.Normal, protocol.JSON, nil, `{"services":{}}`), 0, "brisk/reflection: bad List reply: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := reflection.Decode(tt.resp)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(l.Services) != tt.services {
				t.Fatalf("got %+v, %v", l, err)
			}
		})
	}
	_, err := reflection.Decode(response(protocol.Error, protocol.JSON, map[string]string{protocol.ServiceError: "brisk: can't find method List of service _brisk.Reflection"}, ""))
	if !client.IsNotFound(err) {
		t.Errorf("a server without reflection: %v is not IsNotFound", err)
	}
}

func TestRequest(t *testing.T) {
	r := reflection.Request()
	if r.ServicePath != protocol.ReflectionService || r.ServiceMethod != reflection.Method || r.SerializeType() != protocol.JSON ||
		string(r.Payload) != "{}" || r.MessageType() != protocol.Request || !r.CheckMagic() {
		t.Errorf("Request() = %+v", r)
	}
}

func TestNilArguments(t *testing.T) {
	if _, err := reflection.List(context.Background(), nil); err == nil {
		t.Error("List with a nil client succeeded")
	}
	if _, err := reflection.ListFrom(context.Background(), nil); err == nil {
		t.Error("ListFrom with a nil invoker succeeded")
	}
}

// TestListFromServer describes a server in the same process, through its auth check.
func TestListFromServer(t *testing.T) {
	s := server.NewServer(server.WithAuthFunc(func(_ context.Context, _ *protocol.Message, token string) error {
		if token != "sesame" {
			return errors.New("bad token")
		}
		return nil
	}))
	if err := s.RegisterName("Arith", testsvc.NewArith(), "x=1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), testsvc.Bound)
	defer cancel()

	if _, err := reflection.ListFrom(ctx, s); err == nil || !strings.Contains(err.Error(), "bad token") {
		t.Errorf("without the token: %v", err)
	}
	l, err := reflection.ListFrom(client.WithMetadata(ctx, map[string]string{protocol.AuthKey: "sesame"}), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Services) != 1 || l.Services[0].Name != "Arith" || l.Services[0].Metadata != "x=1" {
		t.Fatalf("services %+v", l.Services)
	}
	mul, ok := l.Method("Arith", "Mul")
	if !ok || mul.Kind != reflection.KindUnary || !strings.Contains(string(mul.Args), `"A":{"type":"integer"}`) ||
		!strings.Contains(string(mul.Reply), `"C":{"type":"integer"}`) {
		t.Errorf("Arith.Mul: %+v", mul)
	}
}
