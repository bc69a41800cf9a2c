package protocol_test

import (
	"fmt"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

// headerCase is one combination of every field the header carries.
type headerCase struct {
	msgType   protocol.MessageType
	heartbeat bool
	oneway    bool
	compress  protocol.CompressType
	status    protocol.MessageStatusType
	serialize protocol.SerializeType
}

// flags computes the flags byte from the table in PROTOCOL.md, independently of the code
// under test.
func (c headerCase) flags() byte {
	var b byte
	if c.msgType == protocol.Response {
		b |= 0x80
	}
	if c.heartbeat {
		b |= 0x40
	}
	if c.oneway {
		b |= 0x20
	}
	return b | byte(c.compress)<<2 | byte(c.status)
}

// allHeaderCases lists every combination: 2 types x 2 x 2 x 8 compress types x 4 statuses x
// 16 serialize types.
func allHeaderCases() []headerCase {
	var cases []headerCase
	for _, mt := range []protocol.MessageType{protocol.Request, protocol.Response} {
		for _, hb := range []bool{false, true} {
			for _, ow := range []bool{false, true} {
				for ct := range protocol.CompressType(8) {
					for st := range protocol.MessageStatusType(4) {
						for ser := range protocol.SerializeType(16) {
							cases = append(cases, headerCase{mt, hb, ow, ct, st, ser})
						}
					}
				}
			}
		}
	}
	return cases
}

func TestHeaderRoundTripAllCombinations(t *testing.T) {
	cases := allHeaderCases()
	if len(cases) != 4096 {
		t.Fatalf("%d cases, want 4096", len(cases))
	}
	for _, c := range cases {
		name := fmt.Sprintf("%+v", c)
		// Set every field, in two different orders, starting from a header with every bit
		// set and from a zero one: the result must not depend on either.
		for _, start := range []byte{0x00, 0xFF} {
			for _, order := range []string{"forward", "reverse"} {
				var h protocol.Header
				for i := range h {
					h[i] = start
				}
				h[0] = protocol.MagicNumber
				setters := []func(){
					func() { h.SetMessageType(c.msgType) },
					func() { h.SetHeartbeat(c.heartbeat) },
					func() { h.SetOneway(c.oneway) },
					func() { h.SetCompressType(c.compress) },
					func() { h.SetMessageStatusType(c.status) },
					func() { h.SetSerializeType(c.serialize) },
					func() { h.SetSeq(0x0102030405060708) },
					func() { h.SetVersion(3) },
				}
				if order == "reverse" {
					for i := len(setters) - 1; i >= 0; i-- {
						setters[i]()
					}
				} else {
					for _, set := range setters {
						set()
					}
				}
				if h[2] != c.flags() {
					t.Fatalf("%s start 0x%02x %s: flags = 0x%02x, want 0x%02x", name, start, order, h[2], c.flags())
				}
				if h[3] != byte(c.serialize)<<4 {
					t.Fatalf("%s: serialize byte = 0x%02x, want 0x%02x", name, h[3], byte(c.serialize)<<4)
				}
				got := headerCase{h.MessageType(), h.IsHeartbeat(), h.IsOneway(), h.CompressType(), h.MessageStatusType(), h.SerializeType()}
				if got != c {
					t.Fatalf("%s start 0x%02x %s: getters = %+v", name, start, order, got)
				}
				if h.Seq() != 0x0102030405060708 || h.Version() != 3 || !h.CheckMagic() {
					t.Fatalf("%s: seq %x version %d magic %v", name, h.Seq(), h.Version(), h.CheckMagic())
				}
			}
		}
	}
}

// TestHeaderGettersFromFlagsByte reads every possible flags byte and checks each getter
// against the masks of PROTOCOL.md.
func TestHeaderGettersFromFlagsByte(t *testing.T) {
	for b := range 256 {
		var h protocol.Header
		h[2] = byte(b)
		want := headerCase{
			msgType:   protocol.MessageType(b >> 7),
			heartbeat: b&0x40 != 0,
			oneway:    b&0x20 != 0,
			compress:  protocol.CompressType(b & 0x1C >> 2),
			status:    protocol.MessageStatusType(b & 0x03),
		}
		got := headerCase{h.MessageType(), h.IsHeartbeat(), h.IsOneway(), h.CompressType(), h.MessageStatusType(), h.SerializeType()}
		if got != want {
			t.Errorf("flags 0x%02x: got %+v, want %+v", b, got, want)
		}
		if want.flags() != byte(b) {
			t.Fatalf("test oracle disagrees with itself at 0x%02x", b)
		}
	}
}

// TestHeaderSettersMaskOutOfRange checks that out-of-range values never spill into the
// neighbouring bits.
func TestHeaderSettersMaskOutOfRange(t *testing.T) {
	tests := []struct {
		name      string
		set       func(h *protocol.Header)
		wantFlags byte
		wantSer   byte
	}{
		{"message type 3 keeps only the low bit", func(h *protocol.Header) { h.SetMessageType(3) }, 0x80, 0},
		{"message type 2 is a request", func(h *protocol.Header) { h.SetMessageType(2) }, 0x00, 0},
		{"compress 9 stays in its 3 bits", func(h *protocol.Header) { h.SetCompressType(9) }, 0x04, 0},
		{"status 6 stays in its 2 bits", func(h *protocol.Header) { h.SetMessageStatusType(6) }, 0x02, 0},
		{"serialize 0x13 keeps the nibble", func(h *protocol.Header) { h.SetSerializeType(0x13) }, 0, 0x30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h protocol.Header
			tc.set(&h)
			if h[2] != tc.wantFlags || h[3] != tc.wantSer {
				t.Errorf("flags 0x%02x ser 0x%02x, want 0x%02x 0x%02x", h[2], h[3], tc.wantFlags, tc.wantSer)
			}
		})
	}
}

func TestSeqAndVersion(t *testing.T) {
	tests := []struct {
		seq     uint64
		version byte
		bytes   [8]byte
	}{
		{0, 0, [8]byte{}},
		{42, 1, [8]byte{7: 42}},
		{0x0102030405060708, 0xFF, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{^uint64(0), 0x7F, [8]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.seq), func(t *testing.T) {
			m := protocol.NewMessage()
			m.SetSeq(tc.seq)
			m.SetVersion(tc.version)
			if [8]byte(m.Header[4:12]) != tc.bytes {
				t.Errorf("seq bytes = % x, want % x", m.Header[4:12], tc.bytes)
			}
			if m.Seq() != tc.seq || m.Version() != tc.version || m.Header[1] != tc.version {
				t.Errorf("Seq %d Version %d", m.Seq(), m.Version())
			}
			d := protocol.NewMessage()
			if err := d.DecodeBytes(m.Encode(), 0); err != nil {
				t.Fatal(err)
			}
			if d.Header != m.Header {
				t.Errorf("decoded header % x, want % x", d.Header, m.Header)
			}
		})
	}
}
