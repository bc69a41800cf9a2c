package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "16KiB": 16 << 10, "64K": 64 << 10, "1GiB": 1 << 30, "1000": 1000, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1KiB", "MiB", "1.5MiB", "9999999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestStreamMode runs the stream mode with tiny sizes and checks its table.
func TestStreamMode(t *testing.T) {
	f := streamFlags{bytes: "200KiB", chunks: "4KiB,16KiB", concurrency: "1,2",
		transports: "tcp,brisk-up,brisk-down,grpc-up,grpc-down", timeout: 30 * time.Second}
	loads, ts, err := f.parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(loads) != 4 || loads[3].Total != 100<<10 || loads[3].Streams != 2 || loads[3].Chunk != 16<<10 {
		t.Fatalf("loads %+v", loads)
	}
	var out bytes.Buffer
	if failed := streamMain(&out, loads, ts); failed {
		t.Fatalf("a stream scenario failed:\n%s", out.String())
	}
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 8 && (fields[0] == "tcp" || strings.HasPrefix(fields[0], "brisk-") || strings.HasPrefix(fields[0], "grpc-")) {
			rows++
			if fields[0] == "tcp" && fields[4] != "100%" {
				t.Errorf("tcp row not 100%% of itself: %q", line)
			}
		}
	}
	if rows != 4*5 {
		t.Errorf("%d result rows, want 20:\n%s", rows, out.String())
	}
}
