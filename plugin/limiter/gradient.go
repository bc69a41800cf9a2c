package limiter

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets the algorithm's parameters; a zero field takes its default (see the package
// doc).
type Config struct {
	InitialLimit int
	MinLimit     int
	MaxLimit     int
	// Smoothing is the weight of a sample's target in the new limit, in (0, 1].
	Smoothing float64
	// Tolerance is the ratio rtt/baseline taken as no queueing, at least 1.
	Tolerance float64
	// Headroom is how many requests may queue at a given limit; it must be positive.
	Headroom func(limit float64) float64
	// ProbeInterval is how often the baseline is re-learnt; negative: never.
	ProbeInterval time.Duration
	// Now is the clock.
	Now func() time.Time
	// OnLimit, if set, is told the enforced limit each time it changes (for metrics), on
	// the goroutine of the request whose sample changed it. It must return promptly.
	OnLimit func(limit int)
}

// Defaults of Config.
const (
	DefaultInitialLimit  = 20
	DefaultMinLimit      = 1
	DefaultMaxLimit      = 1000
	DefaultSmoothing     = 0.2
	DefaultTolerance     = 1.2
	DefaultProbeInterval = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MinLimit <= 0 {
		c.MinLimit = DefaultMinLimit
	}
	if c.MaxLimit <= 0 {
		c.MaxLimit = DefaultMaxLimit
	}
	c.MaxLimit = max(c.MaxLimit, c.MinLimit)
	if c.InitialLimit <= 0 {
		c.InitialLimit = DefaultInitialLimit
	}
	c.InitialLimit = min(max(c.InitialLimit, c.MinLimit), c.MaxLimit)
	if c.Smoothing <= 0 || c.Smoothing > 1 {
		c.Smoothing = DefaultSmoothing
	}
	if c.Tolerance < 1 {
		c.Tolerance = DefaultTolerance
	}
	if c.Headroom == nil {
		c.Headroom = math.Sqrt
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Gradient is the limit algorithm alone: it turns samples into a limit. It is safe for
// concurrent use. Limiter uses one; it is exported so the algorithm can be studied and
// tested on synthetic samples.
type Gradient struct {
	cfg Config

	mu        sync.Mutex
	limit     float64
	baseline  time.Duration // 0: unknown
	nextProbe time.Time
	probeLeft int // samples left in a probe

	pub *atomic.Int64 // if set, the enforced limit is stored here under mu
}

// NewGradient returns the algorithm at cfg.InitialLimit.
func NewGradient(cfg Config) *Gradient {
	cfg = cfg.withDefaults()
	g := &Gradient{cfg: cfg, limit: float64(cfg.InitialLimit)}
	if cfg.ProbeInterval > 0 {
		g.nextProbe = cfg.Now().Add(cfg.ProbeInterval)
	}
	return g
}

// Limit returns the enforced limit: the integer part of the limit.
func (g *Gradient) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return int(g.limit)
}

// Estimate returns the limit as the real number the algorithm keeps.
func (g *Gradient) Estimate() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

// Baseline returns the latency without queueing as estimated so far (0 before any sample).
func (g *Gradient) Baseline() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.baseline
}

// Probing reports whether the baseline is being re-learnt.
func (g *Gradient) Probing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.probeLeft > 0
}

// Update takes a sample, a request's latency and the number of requests in flight when it
// was admitted (itself included), and returns the new enforced limit.
func (g *Gradient) Update(rtt time.Duration, inflight int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	limit := g.update(max(rtt, 1), inflight)
	if g.pub != nil {
		g.pub.Store(int64(limit))
	}
	return limit
}

// update is Update with g.mu held.
func (g *Gradient) update(rtt time.Duration, inflight int) int {
	if g.baseline == 0 || rtt < g.baseline {
		g.baseline = rtt
	}
	if g.probeLeft > 0 {
		g.probeLeft--
		if g.probeLeft == 0 {
			g.nextProbe = g.cfg.Now().Add(g.cfg.ProbeInterval)
		}
		return int(g.limit)
	}
	if g.cfg.ProbeInterval > 0 && !g.cfg.Now().Before(g.nextProbe) {
		g.probeLeft = 2 * int(math.Ceil(g.limit))
		g.limit = float64(g.cfg.MinLimit)
		g.baseline = 0
		return int(g.limit)
	}
	gradient := min(max(g.cfg.Tolerance*float64(g.baseline)/float64(rtt), 0.5), 1)
	target := g.limit*gradient + g.cfg.Headroom(g.limit)
	if target > g.limit && float64(inflight) < g.limit/2 {
		return int(g.limit) // not busy: no evidence that more would do
	}
	next := (1-g.cfg.Smoothing)*g.limit + g.cfg.Smoothing*target
	g.limit = min(max(next, float64(g.cfg.MinLimit)), float64(g.cfg.MaxLimit))
	return int(g.limit)
}
