package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart formats.
const (
	ChartPNG  = "png"
	ChartSVG  = "svg"
	ChartHTML = "html"
)

// ChartFormat returns the chart format a file name asks for by its extension (.png, .svg,
// .html or .htm), or an error.
func ChartFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return ChartPNG, nil
	case ".svg":
		return ChartSVG, nil
	case ".html", ".htm":
		return ChartHTML, nil
	}
	return "", fmt.Errorf("loadgen: chart %q: the name must end in .png, .svg or .html", path)
}

// SaveChart writes r's chart to the file path in the format its extension names (see
// ChartFormat). title heads the chart.
func SaveChart(path string, r *Result, title string) error {
	format, err := ChartFormat(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteChart(&buf, r, format, title); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// WriteChart draws r as three stacked plots: latency by percentile (the HDR histogram on a
// log scale of 1/(1-q), where the tail shows), mean latency over time and throughput (and
// errors) over time. format is ChartPNG, ChartSVG or ChartHTML: a self-contained page with
// a summary table and the chart as inline SVG, needing no network to view.
func WriteChart(w io.Writer, r *Result, format, title string) (err error) {
	if r == nil {
		return errors.New("loadgen: no result to chart")
	}
	defer func() {
		if p := recover(); p != nil { // the plotting library panics on inputs it cannot draw
			err = fmt.Errorf("loadgen: drawing the chart: %v", p)
		}
	}()
	plots, err := chartPlots(r, title)
	if err != nil {
		return err
	}
	width, height := 8*vg.Inch, 10*vg.Inch
	switch format {
	case ChartPNG:
		c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))}
		drawPlots(plots, c)
		_, err = c.WriteTo(w)
		return err
	case ChartSVG:
		c := vgsvg.New(width, height)
		drawPlots(plots, c)
		_, err = c.WriteTo(w)
		return err
	case ChartHTML:
		c := vgsvg.New(width, height)
		drawPlots(plots, c)
		var svg bytes.Buffer
		if _, err := c.WriteTo(&svg); err != nil {
			return err
		}
		return writeHTML(w, r, title, svg.Bytes())
	}
	return fmt.Errorf("loadgen: unknown chart format %q", format)
}

func drawPlots(plots []*plot.Plot, c vg.CanvasSizer) {
	dc := draw.New(c)
	// White background, whatever the canvas's default.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 6}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
}

var (
	blue = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	red  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// chartPlots builds the three plots.
func chartPlots(r *Result, title string) ([]*plot.Plot, error) {
	// Latency by percentile.
	pct := plot.New()
	pct.Title.Text = "Latency by percentile"
	if title != "" {
		pct.Title.Text = title + ": latency by percentile"
	}
	if r.Rate > 0 {
		pct.Title.Text += fmt.Sprintf(" (fixed rate %g/s, from intended send time)", r.Rate)
	}
	pct.X.Label.Text = "percentile"
	pct.Y.Label.Text = "latency (ms)"
	pct.Y.Min = 0
	n := r.Latency.Count()
	maxX := 1.0
	if n > 1 {
		maxX = math.Min(math.Max(math.Ceil(math.Log10(float64(n))), 1), 6)
	}
	var ticks []plot.Tick
	for x := 0.0; x <= maxX; x++ {
		ticks = append(ticks, plot.Tick{Value: x, Label: percentLabel(x)})
	}
	pct.X.Tick.Marker = plot.ConstantTicks(ticks)
	pct.X.Min, pct.X.Max = 0, maxX
	pct.Add(plotter.NewGrid())
	if n > 0 {
		var pts plotter.XYs
		for i := 0; i <= int(maxX*50); i++ {
			x := float64(i) / 50
			q := 100 * (1 - math.Pow(10, -x))
			pts = append(pts, plotter.XY{X: x, Y: msOf(r.Latency.Quantile(q))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = blue
		line.Width = vg.Points(1.5)
		pct.Add(line)
	}

	// Mean latency over time.
	lat := plot.New()
	lat.Title.Text = "Mean latency over time"
	lat.X.Label.Text = "time (s)"
	lat.Y.Label.Text = "latency (ms)"
	lat.Y.Min = 0
	lat.Add(plotter.NewGrid())

	// Throughput over time.
	thr := plot.New()
	thr.Title.Text = "Throughput over time"
	thr.X.Label.Text = "time (s)"
	thr.Y.Label.Text = "calls/s"
	thr.Y.Min = 0
	thr.Add(plotter.NewGrid())

	if len(r.Timeline) > 0 {
		var latPts, okPts, errPts plotter.XYs
		for _, s := range r.Timeline {
			x := s.At.Seconds()
			if s.Requests > 0 {
				latPts = append(latPts, plotter.XY{X: x, Y: msOf(s.MeanLatency)})
			}
			rate := s.Throughput()
			errRate := 0.0
			if s.Span > 0 {
				errRate = float64(s.Errors) / s.Span.Seconds()
			}
			okPts = append(okPts, plotter.XY{X: x, Y: rate - errRate})
			errPts = append(errPts, plotter.XY{X: x, Y: errRate})
		}
		if len(latPts) > 0 {
			if err := addLine(lat, latPts, blue, ""); err != nil {
				return nil, err
			}
		}
		if err := addLine(thr, okPts, blue, "ok"); err != nil {
			return nil, err
		}
		if r.Errors > 0 {
			if err := addLine(thr, errPts, red, "errors"); err != nil {
				return nil, err
			}
		}
		thr.Legend.Top = true
	}
	return []*plot.Plot{pct, lat, thr}, nil
}

// addLine adds pts to p as a line with a dot at each point, in the legend as name if any.
func addLine(p *plot.Plot, pts plotter.XYs, c color.Color, name string) error {
	line, dots, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	line.Color = c
	dots.Color = c
	dots.Radius = vg.Points(1.5)
	p.Add(line, dots)
	if name != "" {
		p.Legend.Add(name, line, dots)
	}
	return nil
}

// percentLabel names the percentile at x = log10(1/(1-q)): 0%, 90%, 99%, 99.9%, ...
func percentLabel(x float64) string {
	if x == 0 {
		return "0%"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.*f", int(x), 100*(1-math.Pow(10, -x))), "0"), ".") + "%"
}

func msOf(d time.Duration) float64 { return float64(d) / 1e6 }

var htmlPage = template.Must(template.New("chart").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { padding: 0.2em 1em; text-align: right; border-bottom: 1px solid #ddd; }
th { text-align: left; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table>
<tr><th>requests</th><td>{{.R.Requests}}</td></tr>
<tr><th>errors</th><td>{{.R.Errors}}</td></tr>
<tr><th>elapsed</th><td>{{.Elapsed}}</td></tr>
<tr><th>throughput</th><td>{{printf "%.1f" .R.Throughput}} req/s</td></tr>
<tr><th>workers</th><td>{{.R.Concurrency}}</td></tr>
{{- if gt .R.Rate 0.0}}
<tr><th>fixed rate</th><td>{{.R.Rate}} req/s (latency from intended send time)</td></tr>
{{- end}}
{{- range .Percentiles}}
<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .R.ErrorKinds}}
<table>
<tr><th>errors</th><th>count</th></tr>
{{- range .R.ErrorKinds}}
<tr><th>{{.Error}}</th><td>{{.Count}}</td></tr>
{{- end}}
</table>
{{- end}}
{{.SVG}}
</body>
</html>
`))

func writeHTML(w io.Writer, r *Result, title string, svg []byte) error {
	if title == "" {
		title = "Load test"
	}
	// Inline SVG in HTML takes no XML declaration.
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	type row struct {
		Name  string
		Value time.Duration
	}
	l := r.Latency
	data := struct {
		Title       string
		R           *Result
		Elapsed     time.Duration
		Percentiles []row
		SVG         template.HTML
	}{
		Title:   title,
		R:       r,
		Elapsed: roundDuration(r.Elapsed),
		Percentiles: []row{{"min", l.Min}, {"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99},
			{"p99.9", l.P999}, {"max", l.Max}},
		SVG: template.HTML(svg), // generated by the plotting library from numbers and our own labels
	}
	for i := range data.Percentiles {
		data.Percentiles[i].Value = roundDuration(data.Percentiles[i].Value)
	}
	return htmlPage.Execute(w, data)
}
