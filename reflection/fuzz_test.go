package reflection_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/reflection"
)

// FuzzDecode feeds Decode a List response of any status, codec and payload (and error
// text). It must not panic: a response with status Error gives a ServiceError with its
// text, one in another codec than JSON or whose payload is not a List reply in JSON gives
// an error naming the reflection package, and anything else gives a reply that Method can
// search, whose JSON round-trips.
func FuzzDecode(f *testing.F) {
	f.Add(byte(protocol.JSON), false, []byte(`{"services":[{"name":"Arith","metadata":"group=a","methods":[`+
		`{"name":"Mul","kind":"unary","args":{"type":"object"},"reply":true},{"name":"Chat","kind":"stream"}]}]}`), "")
	f.Add(byte(protocol.JSON), false, []byte(`{}`), "")
	f.Add(byte(protocol.JSON), false, []byte(`null`), "")
	f.Add(byte(protocol.JSON), false, []byte(`{"services":null}`), "")
	f.Add(byte(protocol.JSON), false, []byte(`{"services":[{"methods":[{"args":[1,2,{"a":null}]}]}]}`), "")
	f.Add(byte(protocol.JSON), false, []byte(`{"services":[{"name":1}]}`), "")
	f.Add(byte(protocol.JSON), false, []byte(`{"services":[`), "")
	f.Add(byte(protocol.JSON), false, []byte{}, "")
	f.Add(byte(protocol.MsgPack), false, []byte{0x81, 0xA8, 's', 'e', 'r', 'v', 'i', 'c', 'e', 's', 0x90}, "")
	f.Add(byte(protocol.JSON), true, []byte(nil), "rpcx: can't find service _brisk.Reflection")
	f.Add(byte(protocol.JSON), true, []byte(`{}`), "")
	f.Add(byte(15), false, []byte(`{}`), "")
	if _, err := reflection.Decode(nil); err == nil {
		f.Fatal("Decode(nil) succeeded")
	}
	f.Fuzz(func(t *testing.T, serial byte, failed bool, payload []byte, text string) {
		resp := protocol.NewMessage()
		resp.SetMessageType(protocol.Response)
		resp.SetSerializeType(protocol.SerializeType(serial & 0x0F))
		resp.ServicePath, resp.ServiceMethod = protocol.ReflectionService, reflection.Method
		if failed {
			resp.SetMessageStatusType(protocol.Error)
			resp.Metadata = map[string]string{protocol.ServiceError: text}
		}
		resp.Payload = payload
		reply, err := reflection.Decode(resp)
		switch {
		case failed:
			if reply != nil || err == nil || !client.IsServiceError(err) || err.Error() != text {
				t.Fatalf("Decode of an error response = %v, %v; want ServiceError %q", reply, err, text)
			}
		case err != nil:
			if reply != nil || !strings.HasPrefix(err.Error(), "brisk/reflection: ") {
				t.Fatalf("Decode = %v, %v", reply, err)
			}
			if resp.SerializeType() == protocol.JSON && json.Valid(payload) && strings.Contains(err.Error(), "not json") {
				t.Fatalf("Decode refused a JSON response: %v", err)
			}
		default:
			if reply == nil || resp.SerializeType() != protocol.JSON {
				t.Fatalf("Decode of a %v response = %v, nil", resp.SerializeType(), reply)
			}
			for _, s := range reply.Services {
				for _, m := range s.Methods {
					if got, ok := reply.Method(s.Name, m.Name); !ok || got.Name != m.Name {
						t.Fatalf("Method(%q, %q) = %v, %v", s.Name, m.Name, got, ok)
					}
				}
			}
			_, _ = reply.Method("", "")
			b, err := json.Marshal(reply)
			if err != nil {
				t.Fatalf("re-encoding a decoded reply: %v", err)
			}
			again, err := reflection.Decode(&protocol.Message{Header: resp.Header, Payload: b})
			if err != nil || len(again.Services) != len(reply.Services) {
				t.Fatalf("Decode of the re-encoded reply %s = %v, %v", b, again, err)
			}
		}
	})
}
