package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// msgpackMaxDepth is the deepest nesting of arrays and maps MsgPack.Decode accepts, the
// limit encoding/json and protobuf apply too.
const msgpackMaxDepth = 10000

var errMsgPackTruncated = errors.New("msgpack: data cut short")

// checkMsgPack walks the first MessagePack value in data without decoding it, returns its
// length, and rejects it
// if an array or map claims more elements than there are bytes left (every element takes at
// least one), if a string, binary or extension claims more bytes than there are, or if it
// nests deeper than msgpackMaxDepth. Bytes after the value are ignored, as msgpack.Unmarshal
// ignores them. It allocates nothing for values nested less than 32 deep.
//
// msgpack v5 preallocates a slice of the claimed length (its allocation limit is not applied
// to slices), so that 5 bytes claiming 2^32 elements would ask for tens of gigabytes, and
// decodes nested values recursively, so that a few megabytes of nested arrays would overflow
// the goroutine stack and kill the process.
func checkMsgPack(data []byte) (int, error) {
	var stackBuf [32]int
	stack := append(stackBuf[:0], 1) // values still to read at each open nesting level
	pending := 1                     // the sum of stack
	i := 0
	for len(stack) > 0 {
		top := len(stack) - 1
		if stack[top] == 0 {
			stack = stack[:top]
			continue
		}
		stack[top]--
		pending--
		if i >= len(data) {
			return 0, errMsgPackTruncated
		}
		c := data[i]
		i++
		var size int  // bytes of payload after the type byte and length
		var elems int // values contained
		var lenBytes int
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			elems = 2 * int(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			size = int(c & 0x1f)
		default:
			switch c {
			case 0xc4, 0xd9: // bin8, str8
				lenBytes = 1
			case 0xc5, 0xda: // bin16, str16
				lenBytes = 2
			case 0xc6, 0xdb: // bin32, str32
				lenBytes = 4
			case 0xc7: // ext8: length, type, data
				lenBytes, size = 1, 1
			case 0xc8: // ext16
				lenBytes, size = 2, 1
			case 0xc9: // ext32
				lenBytes, size = 4, 1
			case 0xcc, 0xd0: // uint8, int8
				size = 1
			case 0xcd, 0xd1, 0xd4: // uint16, int16, fixext1
				size = 2
			case 0xd5: // fixext2
				size = 3
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				size = 4
			case 0xd6: // fixext4
				size = 5
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				size = 8
			case 0xd7: // fixext8
				size = 9
			case 0xd8: // fixext16
				size = 17
			case 0xdc, 0xde: // array16, map16
				lenBytes = 2
			case 0xdd, 0xdf: // array32, map32
				lenBytes = 4
			}
			// nil, false, true and the never-used 0xc1 carry nothing; msgpack reports 0xc1.
		}
		if lenBytes > 0 {
			if len(data)-i < lenBytes {
				return 0, errMsgPackTruncated
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(data[i])
			case 2:
				n = uint64(binary.BigEndian.Uint16(data[i:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(data[i:]))
			}
			i += lenBytes
			container := c >= 0xdc
			if c >= 0xde {
				n *= 2 // a map holds a key and a value per entry
			}
			if n > uint64(len(data)-i) {
				return 0, fmt.Errorf("msgpack: length %d at offset %d overruns the %d bytes left", n, i-lenBytes-1, len(data)-i)
			}
			if container {
				elems = int(n)
			} else {
				size += int(n)
			}
		}
		if size > len(data)-i {
			return 0, errMsgPackTruncated
		}
		i += size
		if elems > 0 {
			pending += elems
			if pending > len(data)-i {
				return 0, fmt.Errorf("msgpack: %d values announced at offset %d, but only %d bytes left", pending, i, len(data)-i)
			}
			if len(stack) > msgpackMaxDepth {
				return 0, fmt.Errorf("msgpack: nested more than %d deep", msgpackMaxDepth)
			}
			stack = append(stack, elems)
		}
	}
	return i, nil
}
