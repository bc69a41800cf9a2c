package codec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func unhexMP(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckMsgPack(t *testing.T) {
	tests := []struct {
		name string
		data string
		end  int // length of the value; -1 for an error
	}{
		{"positive fixint", "7f", 1},
		{"negative fixint", "e0", 1},
		{"nil true false", "c0", 1},
		{"fixstr", "a3 616263", 4},
		{"fixstr cut short", "a3 6162", -1},
		{"str8", "d9 02 6869", 4},
		{"str16", "da 0001 61", 4},
		{"str32", "db 00000001 61", 6},
		{"str32 length cut short", "db 0000", -1},
		{"bin8", "c4 01 ff", 3},
		{"bin16 over the data", "c5 ffff 00", -1},
		{"ext8", "c7 02 05 aabb", 5},
		{"ext8 cut short", "c7 02 05 aa", -1},
		{"ext16", "c8 0001 05 aa", 5},
		{"ext32", "c9 00000000 05", 6},
		{"fixext1", "d4 05 aa", 3},
		{"fixext2", "d5 05 aabb", 4},
		{"fixext4 (timestamp32)", "d6 ff 00000001", 6},
		{"fixext8", "d7 ff 0000000000000001", 10},
		{"fixext16", "d8 05" + strings.Repeat("00", 16), 18},
		{"fixext16 cut short", "d8 05" + strings.Repeat("00", 15), -1},
		{"uint8 int8", "cc ff", 2},
		{"uint16", "cd ffff", 3},
		{"int32", "d2 ffffffff", 5},
		{"float32", "ca 3f800000", 5},
		{"float64", "cb 3ff0000000000000", 9},
		{"uint64 cut short", "cf 00", -1},
		{"fixarray", "93 01 02 03", 4},
		{"fixarray cut short", "93 01 02", -1},
		{"fixmap", "82 a141 0b a142 0c", 7},
		{"fixmap missing a value", "82 a141 0b a142", -1},
		{"array16", "dc 0002 c0 c0", 5},
		{"array32", "dd 00000001 c0", 6},
		{"array32 huge", "dd ffffffff", -1},
		{"map16", "de 0001 01 02", 5},
		{"map32 huge", "df 7fffffff 01 02", -1},
		{"map keys are containers", "81 91 01 92 02 03", 6},
		{"nested, trailing bytes ignored", "92 91 c0 80 ff ff", 4},
		{"empty", "", -1},
		{"0xc1 is left to msgpack", "c1", 1},
		{"empty containers", "93 90 80 a0", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			end, err := checkMsgPack(unhexMP(t, tc.data))
			if tc.end < 0 {
				if err == nil {
					t.Fatalf("accepted, end %d", end)
				}
				return
			}
			if err != nil || end != tc.end {
				t.Fatalf("end %d, %v; want %d", end, err, tc.end)
			}
		})
	}
}

func TestCheckMsgPackDepth(t *testing.T) {
	for _, depth := range []int{0, 1, 31, 32, 33, msgpackMaxDepth - 1, msgpackMaxDepth, msgpackMaxDepth + 1} {
		data := append(bytes.Repeat([]byte{0x91}, depth), 0x01)
		end, err := checkMsgPack(data)
		if depth > msgpackMaxDepth {
			if err == nil {
				t.Errorf("depth %d accepted", depth)
			}
			continue
		}
		if err != nil || end != len(data) {
			t.Errorf("depth %d: end %d, %v", depth, end, err)
		}
	}
}

func TestCheckMsgPackAllocs(t *testing.T) {
	data := unhexMP(t, "82 a1 41 93 01 02 91 91 91 c0 a1 42 cb 3ff0000000000000")
	if _, err := checkMsgPack(data); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = checkMsgPack(data) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// FuzzCheckMsgPack checks checkMsgPack against the msgpack library's own Skip: it must
// accept every value msgpack can skip, and agree on where it ends.
func FuzzCheckMsgPack(f *testing.F) {
	for _, s := range []string{"82 a141 0b a142 0c", "dd 00000001 c0", "c7 02 05 aabb", "92 91 c0 80", "dd ffffffff", "c1"} {
		f.Add(unhexMP(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		end, err := checkMsgPack(data)
		r := bytes.NewReader(data)
		skipErr := msgpack.NewDecoder(r).Skip()
		if skipErr != nil {
			return // checkMsgPack may accept what msgpack rejects (0xc1): msgpack reports it
		}
		if err != nil {
			if strings.Contains(err.Error(), "nested") {
				return
			}
			t.Fatalf("msgpack skips % x, checkMsgPack rejects it: %v", data, err)
		}
		if skipped := len(data) - r.Len(); end != skipped {
			t.Fatalf("checkMsgPack ends at %d, msgpack at %d", end, skipped)
		}
	})
}
