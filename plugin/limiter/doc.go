// Package limiter sheds load with an adaptive concurrency limit: it lets at most Limit()
// requests run at once, refuses the others at once with an error wrapping
// server.ErrOverloaded (clients see it as refused and an XClient retries elsewhere), and
// moves the limit after every request from the latency it measured, so that the limit
// settles near the number of requests the server can run at once without queueing: its
// capacity. It is the idea of Netflix's concurrency-limits (Little's law: past capacity,
// more concurrency only adds latency), in code of its own.
//
// # The algorithm (Gradient)
//
// Each finished request gives a sample: its latency rtt, and inflight, the number of
// requests running when it was admitted (itself included). The limiter keeps:
//
//   - baseline: the lowest rtt seen, the latency without queueing;
//   - limit: a real number, of which the integer part is enforced.
//
// For each sample:
//
//	gradient = clamp(Tolerance × baseline / rtt, 0.5, 1)
//	target   = limit × gradient + Headroom(limit)
//	limit    = (1 − Smoothing) × limit + Smoothing × target, within [MinLimit, MaxLimit]
//
// While requests do not queue, rtt stays within Tolerance of the baseline, the gradient is
// 1 and the limit grows by Smoothing × Headroom per sample. Once the limit passes the
// capacity C, requests queue and rtt grows like limit / C, so the gradient falls like
// Tolerance × C / limit and the limit settles where
//
//	limit ≈ Tolerance × C + Headroom(limit)
//
// (with the defaults and C = 4, about 7.7; with C = 100, about 131). A falling gradient is
// never below 0.5, so one slow sample at most halves the target. A sample whose inflight is
// below half the limit does not raise it: a server that is not busy learns nothing about its
// capacity (it would grow without bound otherwise).
//
// The baseline only goes down, so it is re-learnt every ProbeInterval: the limit drops to
// MinLimit and the baseline is forgotten; for the next 2 × (old limit) samples, which lets
// the requests admitted earlier finish and new ones run nearly alone, the baseline is the
// lowest rtt seen and the limit stays at MinLimit; then the limit grows again from there.
//
// # Parameters (Config)
//
//	InitialLimit  20        the limit before any sample
//	MinLimit      1         the limit never goes below (and probes run at)
//	MaxLimit      1000      the limit never goes above
//	Smoothing     0.2       weight of a sample's target in the new limit (0 < s ≤ 1)
//	Tolerance     1.2       rtt / baseline ratio taken as no queueing (≥ 1); more
//	                        tolerance = a higher limit, fewer refusals, more queueing
//	Headroom      √limit    requests allowed to queue, so the limit can grow and notice
//	ProbeInterval 30 s      how often the baseline is re-learnt (negative: never)
//	Now           time.Now  the clock (tests inject their own)
//
// Put the limiter's middleware outermost but for auth, so that it measures the whole of a
// request's handling; samples of requests that an inner middleware refused (errors wrapping
// server.ErrOverloaded or server.ErrRateLimited) or that their caller cancelled are
// ignored.
package limiter
