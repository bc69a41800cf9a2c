package protocol_test

import (
	"encoding/hex"
	"fmt"

	"github.com/brisk-rpc/brisk/protocol"
)

// The annotated request of PROTOCOL.md: Arith.Mul, JSON, seq 42, metadata {k: v}.
func ExampleMessage_AppendFrame() {
	m := protocol.NewMessage()
	m.SetSerializeType(protocol.JSON)
	m.SetSeq(42)
	m.ServicePath = "Arith"
	m.ServiceMethod = "Mul"
	m.Metadata = map[string]string{"k": "v"}
	m.Payload = []byte(`{"A":11,"B":12}`)

	frame := m.AppendFrame(nil)
	fmt.Printf("%d bytes\n", len(frame))
	fmt.Print(hex.Dump(frame))
	// Output:
	// 65 bytes
	// 00000000  08 00 00 10 00 00 00 00  00 00 00 2a 00 00 00 31  |...........*...1|
	// 00000010  00 00 00 05 41 72 69 74  68 00 00 00 03 4d 75 6c  |....Arith....Mul|
	// 00000020  00 00 00 0a 00 00 00 01  6b 00 00 00 01 76 00 00  |........k....v..|
	// 00000030  00 0f 7b 22 41 22 3a 31  31 2c 22 42 22 3a 31 32  |..{"A":11,"B":12|
	// 00000040  7d                                                |}|
}

// DecodeBytes decodes one whole frame: here rpcx's answer to the request above.
func ExampleMessage_DecodeBytes() {
	m := protocol.NewMessage()
	frame := []byte{
		0x08, 0x00, 0x80, 0x10, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0x21,
		0, 0, 0, 5, 'A', 'r', 'i', 't', 'h',
		0, 0, 0, 3, 'M', 'u', 'l',
		0, 0, 0, 0,
		0, 0, 0, 9, '{', '"', 'C', '"', ':', '1', '3', '2', '}',
	}
	if err := m.DecodeBytes(frame, 0); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.MessageType() == protocol.Response, m.Seq(), m.SerializeType(), m.ServicePath+"."+m.ServiceMethod, string(m.Payload))
	// Output:
	// true 42 json Arith.Mul {"C":132}
}
