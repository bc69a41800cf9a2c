package loadgen

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress draws the measured run's progress bar on Options.Progress: calls made out of
// Count, or time elapsed out of Duration with the calls made so far. It is updated by the
// timeline's sampler only, so it needs no lock of its own.
type progress struct {
	p   *phase
	bar *progressbar.ProgressBar
}

func newProgress(p *phase) *progress {
	if p.opts.Progress == nil {
		return &progress{p: p}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.opts.Progress),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetRenderBlankState(true), // drawn at once, however short the run
	}
	total := p.count
	if total > 0 {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("req"))
	} else {
		// Duration mode: the bar fills with time, in milliseconds.
		total = max(p.duration.Milliseconds(), 1)
		opts = append(opts, progressbar.OptionSetElapsedTime(true), progressbar.OptionSetDescription("0 req, 0 errors"))
	}
	return &progress{p: p, bar: progressbar.NewOptions64(total, opts...)}
}

func (g *progress) update() {
	if g.bar == nil {
		return
	}
	calls := g.p.calls.Load()
	if g.p.count > 0 {
		_ = g.bar.Set64(calls) // writing to the terminal; a failed write only loses the bar
		return
	}
	elapsed := time.Since(g.p.start)
	g.bar.Describe(fmt.Sprintf("%d req, %d errors", calls, g.p.failed.Load()))
	_ = g.bar.Set64(min(elapsed.Milliseconds(), g.p.duration.Milliseconds()))
}

// close finishes the bar and clears it from the terminal.
func (g *progress) close() {
	if g.bar == nil {
		return
	}
	_ = g.bar.Finish()
	_ = g.bar.Clear()
}
