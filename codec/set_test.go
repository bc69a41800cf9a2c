package codec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/protocol"
)

// upper is a user codec: it upper-cases strings.
type upper struct{}

func (upper) Name() string { return "upper" }
func (upper) Encode(dst []byte, v any) ([]byte, error) {
	return append(dst, strings.ToUpper(fmt.Sprint(v))...), nil
}
func (upper) Decode(data []byte, v any) error {
	*v.(*string) = string(data)
	return nil
}

func TestSetBuiltins(t *testing.T) {
	s := codec.NewSet()
	tests := []struct {
		t    protocol.SerializeType
		want codec.Codec
	}{
		{protocol.SerializeNone, codec.Raw{}},
		{protocol.JSON, codec.JSON{}},
		{protocol.ProtoBuffer, codec.Protobuf{}},
		{protocol.MsgPack, codec.MsgPack{}},
		{protocol.Thrift, codec.Thrift{}},
	}
	for _, tc := range tests {
		c, err := s.Get(tc.t)
		if err != nil || c != tc.want {
			t.Errorf("Get(%v) = %#v, %v; want %#v", tc.t, c, err, tc.want)
		}
	}
}

func TestSetGetUnknown(t *testing.T) {
	s := codec.NewSet()
	for _, st := range []protocol.SerializeType{5, 6, 9, 15, 16, 200, 255} {
		t.Run(st.String(), func(t *testing.T) {
			c, err := s.Get(st)
			if !errors.Is(err, codec.ErrUnknownCodec) || c != nil {
				t.Fatalf("Get(%d) = %v, %v; want ErrUnknownCodec", st, c, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(int(st))) {
				t.Errorf("error %q does not name type %d", err, st)
			}
		})
	}
	var zero codec.Set
	if _, err := zero.Get(protocol.JSON); !errors.Is(err, codec.ErrUnknownCodec) {
		t.Errorf("zero Set: Get(JSON) = %v", err)
	}
}

func TestSetRegister(t *testing.T) {
	tests := []struct {
		name string
		t    protocol.SerializeType
	}{
		{"replace JSON", protocol.JSON},
		{"replace raw", protocol.SerializeNone},
		{"add 7", 7},
		{"add 15", 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := codec.NewSet()
			other := codec.NewSet()
			before, _ := other.Get(tc.t)
			if err := s.Register(tc.t, upper{}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Get(tc.t)
			if err != nil || c.Name() != "upper" {
				t.Fatalf("after Register, Get = %v, %v", c, err)
			}
			out, _ := c.Encode(nil, "abc")
			if string(out) != "ABC" {
				t.Errorf("registered codec encodes %q", out)
			}
			// Sets are independent, and other types are untouched.
			if after, _ := other.Get(tc.t); after != before {
				t.Errorf("Register changed another Set: %v -> %v", before, after)
			}
			for st := range protocol.SerializeType(16) {
				if st == tc.t {
					continue
				}
				a, errA := s.Get(st)
				b, errB := other.Get(st)
				if a != b || (errA == nil) != (errB == nil) {
					t.Errorf("Register(%d) changed type %d", tc.t, st)
				}
			}
		})
	}
}

func TestSetRegisterRejects(t *testing.T) {
	tests := []struct {
		name string
		t    protocol.SerializeType
		c    codec.Codec
	}{
		{"16", 16, upper{}},
		{"17", 17, upper{}},
		{"255", 255, upper{}},
		{"nil codec", 7, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := codec.NewSet()
			if err := s.Register(tc.t, tc.c); err == nil {
				t.Fatalf("Register(%d, %v) accepted", tc.t, tc.c)
			}
			// Nothing was clobbered (16 would alias raw if the type were masked).
			for st := range protocol.SerializeType(16) {
				if c, _ := s.Get(st); c != nil && c.Name() == "upper" {
					t.Errorf("Register(%d) replaced type %d", tc.t, st)
				}
			}
		})
	}
}

// TestSetConcurrentGet: once registration is done, Get is safe from many goroutines.
func TestSetConcurrentGet(t *testing.T) {
	s := codec.NewSet()
	if err := s.Register(9, upper{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 1000 {
				st := protocol.SerializeType((g + i) % 16)
				c, err := s.Get(st)
				if (err == nil) != (st <= 4 || st == 9) || (err == nil && c == nil) {
					done <- fmt.Errorf("Get(%d) = %v, %v", st, c, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
