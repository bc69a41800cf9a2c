package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/protocol"
)

func TestParseRegistryURL(t *testing.T) {
	tests := []struct {
		in      string
		want    registryURL
		wantErr string
	}{
		{in: "etcd://127.0.0.1:2379/rpcx_test/Arith",
			want: registryURL{Scheme: "etcd", Hosts: []string{"127.0.0.1:2379"}, BasePath: "/rpcx_test", Service: "Arith"}},
		{in: "etcd://h1,h2:2380/a/b/Arith",
			want: registryURL{Scheme: "etcd", Hosts: []string{"h1:2379", "h2:2380"}, BasePath: "/a/b", Service: "Arith"}},
		{in: "etcd://h/a/b/",
			want: registryURL{Scheme: "etcd", Hosts: []string{"h:2379"}, BasePath: "/a/b"}},
		{in: "zookeeper://zk/services",
			want: registryURL{Scheme: "zookeeper", Hosts: []string{"zk:2181"}, BasePath: "/services"}},
		{in: "zk://zk", want: registryURL{Scheme: "zookeeper", Hosts: []string{"zk:2181"}, BasePath: "/rpcx_test"}},
		{in: "redis://:pw@r:7000/base/Svc",
			want: registryURL{Scheme: "redis", Hosts: []string{"r:7000"}, BasePath: "/base", Service: "Svc"}},
		{in: "consul://c/rpcx_test/Arith?token=t",
			want: registryURL{Scheme: "consul", Hosts: []string{"c:8500"}, BasePath: "/rpcx_test", Service: "Arith"}},
		{in: "mdns:///Arith", want: registryURL{Scheme: "mdns", Service: "Arith"}},
		{in: "ftp://h/x", wantErr: "unknown scheme"},
		{in: "etcd:///x/y", wantErr: "no host"},
		{in: "etcd://a,,b/x", wantErr: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRegistryURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				if exitCodeOf(err) != exitUsage {
					t.Errorf("exit code %d, want %d", exitCodeOf(err), exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.User, got.Query = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestSplitServiceMethod(t *testing.T) {
	tests := []struct{ in, service, method string }{
		{"Arith.Mul", "Arith", "Mul"},
		{"_brisk.Reflection.List", "_brisk.Reflection", "List"},
		{"Mul", "", ""}, {".Mul", "", ""}, {"Arith.", "", ""},
	}
	for _, tt := range tests {
		s, m, err := splitServiceMethod(tt.in)
		if s != tt.service || m != tt.method || (err != nil) != (tt.service == "") {
			t.Errorf("%q: %q %q %v", tt.in, s, m, err)
		}
	}
}

func TestCodecs(t *testing.T) {
	tests := []struct {
		name  string
		codec string
		in    string
		// want is the payload's generic value (msgpack) or text (json, raw).
		want any
	}{
		{"json compacts", "json", "{ \"A\": 1,\n \"B\": [1, 2] }", `{"A":1,"B":[1,2]}`},
		{"json empty means {}", "json", "  ", `{}`},
		{"raw as is", "raw", "\x00\x01 not json", "\x00\x01 not json"},
		{"msgpack ints stay ints", "msgpack", `{"A":9007199254740993,"B":-1,"F":1.5,"S":"x","N":null,"L":[true]}`,
			map[string]any{"A": int64(9007199254740993), "B": int64(-1), "F": 1.5, "S": "x", "N": nil, "L": []any{true}}},
		{"msgpack uint64", "msgpack", `18446744073709551615`, uint64(18446744073709551615)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseCodec(tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := encodeJSONArgs([]byte(tt.in), st)
			if err != nil {
				t.Fatal(err)
			}
			if st != protocol.MsgPack {
				if string(payload) != tt.want {
					t.Errorf("payload %q, want %q", payload, tt.want)
				}
				return
			}
			var got any
			if err := msgpack.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.want)) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"protobuf", "thrift", "xml"} {
		if _, err := parseCodec(bad); err == nil || exitCodeOf(err) != exitUsage {
			t.Errorf("--codec %s: %v", bad, err)
		}
	}
	if _, err := encodeJSONArgs([]byte(`{"A":1} {"B":2}`), protocol.MsgPack); err == nil {
		t.Error("two JSON values were accepted")
	}
}

// normalize makes msgpack's generic integer types comparable.
func normalize(v any) any {
	switch x := v.(type) {
	case int8, int16, int32, int64, uint8, uint16, uint32:
		return reflect.ValueOf(x).Convert(reflect.TypeFor[int64]()).Interface()
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func TestReplyToJSON(t *testing.T) {
	mp, err := msgpack.Marshal(map[any]any{"C": 42, 7: []byte("hi"), "nested": map[string]any{"x": []int{1}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		reply []byte
		st    protocol.SerializeType
		want  string
	}{
		{"json indented", []byte(`{"C":42}`), protocol.JSON, "{\n  \"C\": 42\n}\n"},
		{"json invalid kept", []byte(`not json`), protocol.JSON, "not json"},
		{"json empty", nil, protocol.JSON, "null\n"},
		{"raw kept", []byte{0, 1}, protocol.SerializeNone, "\x00\x01"},
		{"msgpack generic", mp, protocol.MsgPack, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replyToJSON(tt.reply, tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" {
				if string(got) != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
				return
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			if v["C"] != float64(42) || v["7"] != "aGk=" || v["nested"].(map[string]any)["x"].([]any)[0] != float64(1) {
				t.Errorf("got %v", v)
			}
		})
	}
	if _, err := replyToJSON([]byte{0xc1}, protocol.MsgPack); err == nil {
		t.Error("a bad msgpack reply was accepted")
	}
}

func TestServicesOf(t *testing.T) {
	keys := []string{"/b", "/b/Arith", "/b/Arith/tcp@1.2.3.4:5", "/b/Calc/unix@/run/x.sock", "/other/X/y", "/b/Arith/tcp@1.2.3.4:6"}
	if got, want := servicesOf("/b/", keys), []string{"Arith", "Calc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestVersionAndUsage(t *testing.T) {
	r := runCLI(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "brisk ") {
		t.Errorf("version: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", "nosuchcommand")
	if r.code != exitUsage || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown command: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "--help")
	for _, cmd := range []string{"call", "list", "bench", "registry", "gateway", "demo", "version"} {
		if !strings.Contains(r.stdout, "  "+cmd) {
			t.Errorf("help lacks %s:\n%s", cmd, r.stdout)
		}
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the game scenario")
	}
	r := runCLI(t, "", "demo", "--servers", "2", "--players", "4", "--duration", "600ms")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"discovered 2 servers", "draining", "failed: 0", "0 out of order"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}
