package client

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
)

// SelectMode names a built-in way of choosing the server for a call.
type SelectMode int

const (
	// RandomSelect picks a server uniformly at random.
	RandomSelect SelectMode = iota
	// RoundRobin takes the servers in turn.
	RoundRobin
	// WeightedRoundRobin takes the servers in turn in proportion to their weight metadata,
	// spread smoothly (nginx's smooth weighted round robin).
	WeightedRoundRobin
	// ConsistentHash sends calls with the same key (WithHashKey, else the method and
	// arguments) to the same server; when a server leaves, only its keys move.
	ConsistentHash
	// Closest picks the server nearest to Option.Latitude/Longitude by its geo metadata.
	Closest
	// LeastLoaded compares two random servers by calls in flight and recent latency and
	// takes the less loaded (power of two choices).
	LeastLoaded
	// SelectByUser uses the Selector given in Option.Selector.
	SelectByUser SelectMode = 1000
)

// String returns the name.
func (m SelectMode) String() string {
	switch m {
	case RandomSelect:
		return "RandomSelect"
	case RoundRobin:
		return "RoundRobin"
	case WeightedRoundRobin:
		return "WeightedRoundRobin"
	case ConsistentHash:
		return "ConsistentHash"
	case Closest:
		return "Closest"
	case LeastLoaded:
		return "LeastLoaded"
	case SelectByUser:
		return "SelectByUser"
	}
	return fmt.Sprintf("SelectMode(%d)", int(m))
}

// Endpoint is one server as the XClient sees it: its registry entry and its live load.
type Endpoint struct {
	discovery.Server
	*endpointState
}

// endpointState outlives a change of the server's metadata: the XClient then makes a new
// Endpoint around the same state.
type endpointState struct {
	inflight atomic.Int64
	ewmaNs   atomic.Int64 // latency moving average, nanoseconds
	breaker  breaker
	conns    connSlot
}

// InFlight returns the calls currently outstanding on the server.
func (e *Endpoint) InFlight() int64 { return e.inflight.Load() }

// Latency returns the moving average of the server's recent call latency (0 before the
// first call).
func (e *Endpoint) Latency() time.Duration { return time.Duration(e.ewmaNs.Load()) }

// BreakerOpen reports whether the server's circuit breaker is open or half-open.
func (e *Endpoint) BreakerOpen() bool { return e.breaker.isOpen() }

// decay shrinks the latency figure by 1/8.
func (e *endpointState) decay() {
	if v := e.ewmaNs.Load(); v > 0 {
		e.ewmaNs.Store(v - v/8)
	}
}

// observe folds one call's latency into the figure: a slower sample replaces it at once
// (peak EWMA: a server that turns slow loses traffic at once), a faster one moves it by 1/8.
func (e *endpointState) observe(d time.Duration) {
	old := e.ewmaNs.Load()
	if old == 0 || int64(d) > old {
		e.ewmaNs.Store(int64(d))
		return
	}
	e.ewmaNs.Store(old + (int64(d)-old)/8)
}

// SelectInfo describes the call a Selector chooses a server for.
type SelectInfo struct {
	Ctx           context.Context
	ServicePath   string
	ServiceMethod string
	Args          any
}

// Selector chooses the server for a call among candidates, which is never empty and holds
// only servers currently usable (breaker closed, not waiting to redial, not yet tried by
// this call). It returns an index into candidates. Select is called concurrently.
type Selector interface {
	Select(info SelectInfo, candidates []*Endpoint) int
}

// ServersUpdater is implemented by selectors that keep per-server state; the XClient calls
// UpdateServers with the full list whenever discovery reports a change.
type ServersUpdater interface {
	UpdateServers(servers []*Endpoint)
}

func newSelector(mode SelectMode, opt Option) (Selector, error) {
	switch mode {
	case RandomSelect:
		return randomSelector{}, nil
	case RoundRobin:
		return &roundRobinSelector{}, nil
	case WeightedRoundRobin:
		return &weightedRoundRobinSelector{current: map[string]int64{}}, nil
	case ConsistentHash:
		return &consistentHashSelector{seed: maphash.MakeSeed()}, nil
	case Closest:
		return closestSelector{lat: opt.Latitude, lon: opt.Longitude}, nil
	case LeastLoaded:
		return leastLoadedSelector{}, nil
	case SelectByUser:
		if opt.Selector == nil {
			return nil, fmt.Errorf("brisk: SelectByUser needs Option.Selector")
		}
		return opt.Selector, nil
	}
	return nil, fmt.Errorf("brisk: unknown select mode %d", int(mode))
}

type randomSelector struct{}

func (randomSelector) Select(_ SelectInfo, c []*Endpoint) int { return rand.IntN(len(c)) }

type roundRobinSelector struct{ next atomic.Uint64 }

func (s *roundRobinSelector) Select(_ SelectInfo, c []*Endpoint) int {
	return int((s.next.Add(1) - 1) % uint64(len(c)))
}

// weightedRoundRobinSelector is nginx's smooth weighted round robin over the candidates:
// every pick adds each weight to its server's current value, takes the largest, and
// subtracts the total from it. Weights 5,1,1 give a a b a c a a, not a a a a a b c.
type weightedRoundRobinSelector struct {
	mu      sync.Mutex
	current map[string]int64
}

func (s *weightedRoundRobinSelector) Select(_ SelectInfo, c []*Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, total := -1, int64(0)
	var bestVal int64
	for i, e := range c {
		w := int64(e.Weight)
		if w <= 0 {
			continue
		}
		total += w
		v := s.current[e.Key] + w
		s.current[e.Key] = v
		if best < 0 || v > bestVal {
			best, bestVal = i, v
		}
	}
	if best < 0 {
		return rand.IntN(len(c)) // every weight is zero: no preference
	}
	s.current[c[best].Key] = bestVal - total
	return best
}

func (s *weightedRoundRobinSelector) UpdateServers(servers []*Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]int64, len(servers))
	for _, e := range servers {
		keep[e.Key] = s.current[e.Key]
	}
	s.current = keep
}

type hashKeyCtx struct{}

// WithHashKey returns a context whose calls use key for the ConsistentHash selector.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKeyCtx{}, key)
}

// consistentHashSelector uses rendezvous (highest random weight) hashing: each candidate
// scores hash(key, server) and the highest wins. A key stays on its server while that
// server is present, and a removed server's keys spread over the others, without a ring
// to rebuild.
type consistentHashSelector struct{ seed maphash.Seed }

func (s *consistentHashSelector) Select(info SelectInfo, c []*Endpoint) int {
	key, ok := info.Ctx.Value(hashKeyCtx{}).(string)
	if !ok {
		key = info.ServicePath + "/" + info.ServiceMethod + "/" + fmt.Sprint(info.Args)
	}
	best, bestScore := 0, uint64(0)
	for i, e := range c {
		var h maphash.Hash
		h.SetSeed(s.seed)
		h.WriteString(key)
		h.WriteByte(0)
		h.WriteString(e.Key)
		if score := h.Sum64(); i == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// closestSelector picks the candidate with the smallest great-circle distance; servers
// without geo metadata come last.
type closestSelector struct{ lat, lon float64 }

func (s closestSelector) Select(_ SelectInfo, c []*Endpoint) int {
	best, bestDist := 0, math.Inf(1)
	for i, e := range c {
		d := math.Inf(1)
		if e.HasGeo {
			d = haversine(s.lat, s.lon, e.Latitude, e.Longitude)
		}
		if d < bestDist {
			best, bestDist = i, d
		}
	}
	return best
}

func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0 // km
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

// leastLoadedSelector is power of two choices: of two random candidates, take the one with
// the lower (in-flight + 1) × latency score.
type leastLoadedSelector struct{}

func (leastLoadedSelector) Select(_ SelectInfo, c []*Endpoint) int {
	if len(c) == 1 {
		return 0
	}
	i := rand.IntN(len(c))
	j := rand.IntN(len(c) - 1)
	if j >= i {
		j++
	}
	if load(c[j]) < load(c[i]) {
		i, j = j, i
	}
	// The loser's latency figure is only updated when it wins, so let it fade: a server
	// that was slow once is tried again later instead of being starved for good.
	c[j].decay()
	return i
}

func load(e *Endpoint) float64 {
	lat := float64(e.Latency())
	if lat == 0 {
		lat = 1 // unmeasured servers compete on in-flight calls alone
	}
	return float64(e.InFlight()+1) * lat
}
