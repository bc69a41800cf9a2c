package protocol

import (
	"strconv"
	"testing"
)

// TestFreeMsgDropsOversizedParts checks what FreeMsg keeps for the pool: small buffers and
// maps are reused, big ones are dropped so that one huge message does not pin its memory.
func TestFreeMsgDropsOversizedParts(t *testing.T) {
	tests := []struct {
		name     string
		pairs    int
		bodyCap  int
		zbufCap  int
		keepMap  bool
		keepBody bool
		keepZbuf bool
	}{
		{"small", 3, 512, 512, true, true, true},
		{"at the limits", maxPooledMetadata, maxPooledBuffer, maxPooledBuffer, true, true, true},
		{"many pairs", maxPooledMetadata + 1, 512, 512, false, true, true},
		{"huge body", 1, maxPooledBuffer + 1, 0, true, false, true},
		{"huge zbuf", 1, 16, maxPooledBuffer + 1, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMessage()
			m.Metadata = make(map[string]string)
			for i := range tc.pairs {
				m.Metadata[strconv.Itoa(i)] = "v"
			}
			m.body = make([]byte, 10, tc.bodyCap)
			m.zbuf = make([]byte, 0, tc.zbufCap)
			m.ServicePath = "p"
			m.Payload = m.body
			m.SetSeq(9)
			// Take the message back out of the pool before another test can: FreeMsg is
			// what is under test, not sync.Pool.
			FreeMsg(m)
			if (m.Metadata != nil) != tc.keepMap {
				t.Errorf("metadata map kept = %v, want %v", m.Metadata != nil, tc.keepMap)
			}
			if len(m.Metadata) != 0 {
				t.Errorf("pooled message has %d metadata pairs", len(m.Metadata))
			}
			if (m.body != nil) != tc.keepBody || (m.zbuf != nil) != tc.keepZbuf {
				t.Errorf("body kept %v zbuf kept %v", m.body != nil, m.zbuf != nil)
			}
			if m.ServicePath != "" || m.Payload != nil || m.Seq() != 0 || !m.CheckMagic() {
				t.Errorf("pooled message not reset: %q %q seq %d", m.ServicePath, m.Payload, m.Seq())
			}
		})
	}
}
