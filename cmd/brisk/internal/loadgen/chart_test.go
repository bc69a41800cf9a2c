package loadgen_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/cmd/brisk/internal/loadgen"
)

// chartResult is a result with latencies spread over two orders of magnitude, some errors
// and a timeline of several points.
func chartResult(t *testing.T) *loadgen.Result {
	t.Helper()
	var n atomic.Int64
	do := func(context.Context) error {
		i := n.Add(1)
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond) // a slow tail
		}
		if i%40 == 0 {
			return errors.New("boom")
		}
		return nil
	}
	res, err := loadgen.Run(context.Background(), do, loadgen.Options{Count: 2000, Concurrency: 4, SampleInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSaveChart(t *testing.T) {
	res := chartResult(t)
	empty, err := loadgen.Run(context.Background(), func(ctx context.Context) error { return nil }, loadgen.Options{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	empty.Timeline = nil // a result with nothing to draw over time
	tests := []struct {
		name  string
		file  string
		res   *loadgen.Result
		check func(t *testing.T, b []byte)
	}{
		{"png", "out.png", res, checkPNG},
		{"png upper case", "OUT.PNG", res, checkPNG},
		{"png of an almost empty run", "empty.png", empty, checkPNG},
		{"html", "out.html", res, checkHTML},
		{"htm", "out.htm", empty, checkHTML},
		{"svg", "out.svg", res, func(t *testing.T, b []byte) {
			if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("</svg>")) {
				t.Errorf("not an SVG document: %.200s", b)
			}
		}},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if err := loadgen.SaveChart(path, tt.res, "tcp@127.0.0.1:8972 Arith.Mul"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, b)
		})
	}
}

func checkPNG(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 400 {
		t.Errorf("PNG of %v, want a chart of at least 400x400", r)
	}
	// Not a blank image: some pixels are dark (axes, text, lines).
	dark := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			if cr, cg, cb, _ := img.At(x, y).RGBA(); cr+cg+cb < 3*0x4000 {
				dark++
			}
		}
	}
	if dark < 100 {
		t.Errorf("the PNG is nearly blank (%d dark pixels sampled)", dark)
	}
}

func checkHTML(t *testing.T, b []byte) {
	t.Helper()
	s := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "</svg>", "</html>", "latency by percentile", "p99.9", "tcp@127.0.0.1:8972 Arith.Mul"} {
		if !strings.Contains(s, want) {
			t.Errorf("the HTML lacks %q", want)
		}
	}
	if strings.Contains(s, "<?xml") {
		t.Error("the HTML holds an XML declaration")
	}
	for _, ref := range []string{"src=\"http", "href=\"http", "<link", "<script src"} {
		if strings.Contains(s, ref) {
			t.Errorf("the HTML refers to an outside resource (%q): it must be self-contained", ref)
		}
	}
}

func TestChartErrors(t *testing.T) {
	res := chartResult(t)
	dir := t.TempDir()
	if err := loadgen.SaveChart(filepath.Join(dir, "out.jpg"), res, ""); err == nil || !strings.Contains(err.Error(), ".png, .svg or .html") {
		t.Errorf("a .jpg chart: err = %v", err)
	}
	if err := loadgen.SaveChart(filepath.Join(dir, "no-such-dir", "out.png"), res, ""); err == nil {
		t.Error("writing into a missing directory did not fail")
	}
	if err := loadgen.WriteChart(&bytes.Buffer{}, nil, loadgen.ChartPNG, ""); err == nil {
		t.Error("a nil result did not fail")
	}
	if err := loadgen.WriteChart(&bytes.Buffer{}, res, "gif", ""); err == nil {
		t.Error("an unknown format did not fail")
	}
}
