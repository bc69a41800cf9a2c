package registry_test

import (
	"testing"

	"github.com/brisk-rpc/brisk/registry"
)

func TestLayout(t *testing.T) {
	tests := []struct{ base, want string }{
		{"", "/rpcx_test/Arith/tcp@127.0.0.1:8972"},
		{"/rpcx_test", "/rpcx_test/Arith/tcp@127.0.0.1:8972"},
		{"rpcx_test/", "/rpcx_test/Arith/tcp@127.0.0.1:8972"},
		{"/a/b", "/a/b/Arith/tcp@127.0.0.1:8972"},
	}
	for _, tt := range tests {
		if got := registry.Key(tt.base, "Arith", "tcp@127.0.0.1:8972"); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestWithState(t *testing.T) {
	tests := []struct {
		md       string
		inactive bool
		want     string
	}{
		{"", false, ""},
		{"", true, "state=inactive"},
		{"weight=2&state=inactive", false, "weight=2"},
		{"state=active&group=a&group=b", true, "group=a&group=b&state=inactive"},
		{"a=%20x", true, "a=%20x&state=inactive"},
	}
	for _, tt := range tests {
		if got := registry.WithState(tt.md, tt.inactive); got != tt.want {
			t.Errorf("WithState(%q, %v) = %q, want %q", tt.md, tt.inactive, got, tt.want)
		}
	}
}

// TestCheckAddress checks CheckAddress and CheckKeyAddress, which refuses '/' as well.
func TestCheckAddress(t *testing.T) {
	tests := []struct {
		in, want  string
		ok, keyOK bool
	}{
		{"tcp@127.0.0.1:8972", "tcp@127.0.0.1:8972", true, true},
		{"127.0.0.1:8972", "tcp@127.0.0.1:8972", true, true},
		{"quic@[::1]:1", "quic@[::1]:1", true, true},
		{"unix@/run/app.sock", "unix@/run/app.sock", true, false},
		{"", "", false, false},
		{"tcp@nohost", "", false, false},
	}
	for _, tt := range tests {
		got, err := registry.CheckAddress(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CheckAddress(%q) = %q, %v", tt.in, got, err)
		}
		want := tt.want
		if !tt.keyOK {
			want = ""
		}
		got, err = registry.CheckKeyAddress(tt.in)
		if (err == nil) != tt.keyOK || got != want {
			t.Errorf("CheckKeyAddress(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestCheckBasePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/rpcx_test": true, "/a/b.c/d": true, "/a//b": false, "/a/./b": false, "/a/../b": false, "/": false,
	} {
		if err := registry.CheckBasePath(p); (err == nil) != ok {
			t.Errorf("CheckBasePath(%q) = %v", p, err)
		}
	}
}
