package codec_test

import (
	"fmt"

	"github.com/brisk-rpc/brisk/codec"
	"github.com/brisk-rpc/brisk/protocol"
)

// A Set picks the codec named by a frame's serialize type.
func ExampleSet() {
	codecs := codec.NewSet()

	type Args struct{ A, B int }
	for _, st := range []protocol.SerializeType{protocol.JSON, protocol.MsgPack} {
		c, err := codecs.Get(st)
		if err != nil {
			fmt.Println(err)
			return
		}
		payload, err := c.Encode(nil, Args{A: 11, B: 12})
		if err != nil {
			fmt.Println(err)
			return
		}
		var back Args
		if err := c.Decode(payload, &back); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: % x -> %+v\n", c.Name(), payload, back)
	}

	// Serialize types 5 to 15 are free for user codecs.
	if _, err := codecs.Get(7); err != nil {
		fmt.Println(err)
	}
	// Output:
	// json: 7b 22 41 22 3a 31 31 2c 22 42 22 3a 31 32 7d -> {A:11 B:12}
	// msgpack: 82 a1 41 0b a1 42 0c -> {A:11 B:12}
	// brisk/codec: no codec for serialize type 7
}
