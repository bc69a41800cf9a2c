package protocol_test

import (
	"bytes"
	"maps"
	"sync"
	"testing"

	"github.com/brisk-rpc/brisk/protocol"
)

func TestNewMessage(t *testing.T) {
	m := protocol.NewMessage()
	want := protocol.Header{protocol.MagicNumber}
	if m.Header != want || m.ServicePath != "" || m.Metadata != nil || m.Payload != nil {
		t.Fatalf("NewMessage = %+v", m)
	}
	// An empty message is a valid 32-byte frame.
	frame := m.Encode()
	if len(frame) != protocol.HeaderSize+16 || m.EncodedSize() != len(frame) {
		t.Fatalf("empty frame is %d bytes, EncodedSize %d", len(frame), m.EncodedSize())
	}
	d := protocol.NewMessage()
	if err := d.DecodeBytes(frame, 0); err != nil {
		t.Fatal(err)
	}
	if d.Payload == nil || len(d.Payload) != 0 {
		t.Errorf("empty payload decoded as %#v, want empty non-nil", d.Payload)
	}
}

func TestReset(t *testing.T) {
	m := protocol.NewMessage()
	if err := m.DecodeBytes(unhex(t, goldenRequest), 0); err != nil {
		t.Fatal(err)
	}
	md := m.Metadata
	m.Reset()
	if m.Header != (protocol.Header{protocol.MagicNumber}) || m.ServicePath != "" || m.ServiceMethod != "" || m.Payload != nil {
		t.Errorf("after Reset: %+v", m)
	}
	if len(md) != 0 || len(m.Metadata) != 0 {
		t.Errorf("metadata after Reset: %v", m.Metadata)
	}
	// The map is kept for reuse.
	m.Metadata["x"] = "y"
	if md["x"] != "y" {
		t.Error("Reset replaced the metadata map instead of clearing it")
	}
}

func TestClone(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		payload []byte
	}{
		{"full", map[string]string{"a": "1", "b": "2"}, []byte("payload")},
		{"no metadata", nil, []byte("p")},
		{"empty payload", map[string]string{"a": "1"}, []byte{}},
		{"nil payload", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := protocol.NewMessage()
			src.SetSeq(77)
			src.SetMessageType(protocol.Response)
			src.ServicePath, src.ServiceMethod = "S", "M"
			src.Metadata = maps.Clone(tc.md)
			src.Payload = bytes.Clone(tc.payload)
			c := src.Clone()
			if c.Header != src.Header || c.ServicePath != "S" || c.ServiceMethod != "M" ||
				!maps.Equal(c.Metadata, tc.md) || !bytes.Equal(c.Payload, tc.payload) || (c.Payload == nil) != (tc.payload == nil) {
				t.Fatalf("clone %+v", c)
			}
			// Changing the source changes nothing in the clone.
			if len(src.Payload) > 0 {
				src.Payload[0] = 'X'
			}
			if src.Metadata != nil {
				src.Metadata["a"] = "changed"
			}
			src.SetSeq(1)
			if !bytes.Equal(c.Payload, tc.payload) || !maps.Equal(c.Metadata, tc.md) || c.Seq() != 77 {
				t.Errorf("clone shares memory with its source: %+v", c)
			}
		})
	}
}

// TestCloneOfDecodedSurvivesReuse is what a client does with a server push: clone the
// decoded message, then decode the next frame into the original.
func TestCloneOfDecodedSurvivesReuse(t *testing.T) {
	m := protocol.NewMessage()
	if err := m.DecodeBytes(unhex(t, goldenRequest), 0); err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	if err := m.DecodeBytes(unhex(t, goldenResponse), 0); err != nil {
		t.Fatal(err)
	}
	checkFields(t, c, fields{
		serialize: protocol.JSON, seq: 42, path: "Arith", method: "Mul",
		metadata: map[string]string{"k": "v"}, payload: []byte(`{"A":11,"B":12}`),
	})
}

func TestPooledMessages(t *testing.T) {
	var wg sync.WaitGroup
	frame := unhex(t, goldenRequest)
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			for range 100 {
				m := protocol.GetPooledMsg()
				if m.Header != (protocol.Header{protocol.MagicNumber}) || m.ServicePath != "" || len(m.Metadata) != 0 || m.Payload != nil {
					errs <- "GetPooledMsg returned a dirty message"
					return
				}
				if err := m.DecodeBytes(frame, 0); err != nil {
					errs <- err.Error()
					return
				}
				if m.Metadata["k"] != "v" {
					errs <- "bad decode"
					return
				}
				protocol.FreeMsg(m)
			}
		})
	}
	wg.Wait()
	protocol.FreeMsg(nil) // must not panic
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestEncodeManyMetadataPairs(t *testing.T) {
	m := protocol.NewMessage()
	m.Metadata = map[string]string{}
	for i := range 100 {
		m.Metadata[string(rune('a'+i%26))+string(rune('A'+i/26))] = string(bytes.Repeat([]byte{'v'}, i))
	}
	m.Metadata[""] = ""
	frame := m.Encode()
	if len(frame) != m.EncodedSize() {
		t.Fatalf("encoded %d bytes, EncodedSize %d", len(frame), m.EncodedSize())
	}
	d := protocol.NewMessage()
	if err := d.DecodeBytes(frame, 0); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(d.Metadata, m.Metadata) {
		t.Errorf("metadata round trip lost pairs: %d of %d", len(d.Metadata), len(m.Metadata))
	}
}
