package mdns

import (
	"encoding/json"

	"github.com/miekg/dns"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestTXTRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 10, 40} {
		services := make(map[string]string)
		for i := range n {
			services["Svc"+strconv.Itoa(i)] = "weight=" + strconv.Itoa(i) + "&group=a b"
		}
		txt, err := encodeTXT("tcp@10.0.0.5:8972", services)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range txt {
			if len(s) > maxTXTString {
				t.Fatalf("%d services: a %d-byte TXT string", n, len(s))
			}
		}
		got, err := decodeTXT(txt)
		if err != nil || len(got) != n {
			t.Fatalf("%d services: decoded %d, %v", n, len(got), err)
		}
		for _, m := range got {
			if services[m.Service] != m.Meta || m.ServiceAddress != "tcp@10.0.0.5:8972" {
				t.Errorf("decoded %+v", m)
			}
		}
	}
}

func TestTXTTooLarge(t *testing.T) {
	services := map[string]string{"A": strings.Repeat("x", maxTXT)}
	if _, err := encodeTXT("tcp@10.0.0.5:8972", services); err == nil {
		t.Fatal("no error for a record larger than an mDNS message")
	}
}

func TestDecodeTXT(t *testing.T) {
	esc := url.QueryEscape
	for _, tc := range []struct {
		name    string
		txt     []string
		want    []serviceMeta
		wantErr bool
	}{
		{"rpcx current", []string{esc(`[{"service":"A","meta":"w=1","service_address":"tcp@h:1"}]`)},
			[]serviceMeta{{"A", "w=1", "tcp@h:1"}}, false},
		{"rpcx untagged", []string{esc(`[{"Service":"A","Meta":"w=1","ServiceAddress":"tcp@h:1"}]`)},
			[]serviceMeta{{"A", "w=1", "tcp@h:1"}}, false},
		{"split", []string{esc(`[{"service":"A",`)[:7], esc(`[{"service":"A",`)[7:] + esc(`"service_address":"tcp@h:1"}]`)},
			[]serviceMeta{{"A", "", "tcp@h:1"}}, false},
		{"bad element skipped", []string{esc(`[{"service":1},{"service":"B","service_address":"tcp@h:2"},{"service":"C"}]`)},
			[]serviceMeta{{"B", "", "tcp@h:2"}}, true},
		{"empty", nil, nil, true},
		{"not escaped", []string{"%zz"}, nil, true},
		{"not an array", []string{esc(`{"service":"A"}`)}, nil, true},
		{"other TXT", []string{"txtvers=1", "path=/"}, nil, true},
	} {
		got, err := decodeTXT(tc.txt)
		if !reflect.DeepEqual(got, tc.want) || (err != nil) != tc.wantErr {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzDecodeTXT feeds the decoder TXT records as they arrive from the network: it must
// never panic, and what it returns must be usable.
func FuzzDecodeTXT(f *testing.F) {
	seed, _ := encodeTXT("tcp@127.0.0.1:8972", map[string]string{"Arith": "weight=1&group=a", "Echo": ""})
	f.Add(strings.Join(seed, "\x00"))
	f.Add(url.QueryEscape(`[{"Service":"A","Meta":"","ServiceAddress":"tcp@h:1"},null,[],1]`))
	f.Add("%5B%7B%22service%22%3A%22A%22%7D")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := decodeTXT(strings.Split(in, "\x00"))
		for _, m := range got {
			if m.Service == "" || m.ServiceAddress == "" {
				t.Fatalf("decoded an incomplete element %+v", m)
			}
		}
		if err == nil {
			// Everything was decoded: encoding it again gives equal elements.
			if _, jerr := json.Marshal(got); jerr != nil {
				t.Fatal(jerr)
			}
		}
	})
}

func TestInstanceName(t *testing.T) {
	for _, tc := range []struct {
		host   string
		port   int
		suffix string
	}{
		{"127.0.0.1", 8972, "-127-0-0-1-8972"},
		{"::1", 1, "---1-1"},
		{"fe80::1234:5678:9abc:def0:1234:5678", 65535, "-fe80--1234-5678-9abc-def0-1234-5678-65535"},
		{"my.host_name", 80, "-my-host-name-80"},
	} {
		got := instanceName(tc.host, tc.port)
		if !strings.HasSuffix(got, tc.suffix) || len(got) > 63 || sanitize(got) != got {
			t.Errorf("instanceName(%q, %d) = %q, want a label of at most 63 bytes ending in %q", tc.host, tc.port, got, tc.suffix)
		}
	}
}

func TestGoodbyeKeys(t *testing.T) {
	suffix := "._rpcxservices.local."
	srv := func(name string, ttl uint32, port uint16) dns.RR {
		return &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl}, Port: port, Target: "h.local."}
	}
	msg := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{
		srv("a-1._rpcxservices.local.", 0, 1),
		srv("b._rpcxservices.local.", 120, 2), // an announcement, not a goodbye
		srv("c._http._tcp.local.", 0, 3),      // another service type
		srv("._rpcxservices.local.", 0, 4),    // no instance
		&dns.TXT{Hdr: dns.RR_Header{Name: "d._rpcxservices.local.", Rrtype: dns.TypeTXT}},
	}, Extra: []dns.RR{srv("E._RPCXSERVICES.LOCAL.", 0, 5)}}
	got := strings.Join(goodbyeKeys(msg, suffix), " ")
	if got != "a-1:1 E:5" {
		t.Errorf("goodbyeKeys = %q, want %q", got, "a-1:1 E:5")
	}
	msg.Response = false
	if got := goodbyeKeys(msg, suffix); got != nil {
		t.Errorf("goodbyeKeys of a query = %v", got)
	}
}

// FuzzGoodbyeKeys feeds the goodbye listener's parsing packets as they arrive from the
// network.
func FuzzGoodbyeKeys(f *testing.F) {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{&dns.SRV{
		Hdr: dns.RR_Header{Name: "a._rpcxservices.local.", Rrtype: dns.TypeSRV, Class: dns.ClassINET}, Port: 1, Target: "a.local."}}}
	seed, _ := m.Pack()
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, packet []byte) {
		var msg dns.Msg
		if msg.Unpack(packet) != nil {
			return
		}
		for _, k := range goodbyeKeys(&msg, "._rpcxservices.local.") {
			if !strings.Contains(k, ":") {
				t.Fatalf("key %q", k)
			}
		}
	})
}
