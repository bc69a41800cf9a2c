package dashboard

import (
	"math/bits"
	"time"
)

// The latency histogram has log-linear buckets: one for anything under 1024 ns, then
// subBuckets buckets per power of two up to 2^maxExp ns (about 68 s); longer calls land in
// the last bucket. A bucket is at most 1/subBuckets of its lower bound wide, so a
// percentile read from it (interpolated within the bucket) is off by under 12.5%.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	minExp     = 10 // 1024 ns: the first bucket's upper bound
	maxExp     = 36 // 2^36 ns ≈ 68.7 s
	numBuckets = 1 + (maxExp-minExp)*subBuckets
)

// histogram counts durations in log-linear buckets. It is not safe for concurrent use: the
// method's mutex guards it.
type histogram [numBuckets]uint32

// bucketOf returns the index of the bucket d falls in.
func bucketOf(d time.Duration) int {
	if d < 1<<minExp {
		return 0
	}
	v := uint64(d)
	exp := bits.Len64(v) - 1 // v is in [2^exp, 2^(exp+1))
	if exp >= maxExp {
		return numBuckets - 1
	}
	sub := int(v>>(exp-subBits)) & (subBuckets - 1)
	return 1 + (exp-minExp)*subBuckets + sub
}

// bucketBounds returns the range [lo, hi) of bucket i, in nanoseconds.
func bucketBounds(i int) (lo, hi float64) {
	if i == 0 {
		return 0, 1 << minExp
	}
	i--
	exp := minExp + i/subBuckets
	sub := i % subBuckets
	step := float64(uint64(1) << (exp - subBits))
	lo = float64(uint64(1)<<exp) + float64(sub)*step
	return lo, lo + step
}

func (h *histogram) record(d time.Duration) {
	if i := bucketOf(d); h[i] < ^uint32(0) {
		h[i]++
	}
}

func (h *histogram) add(o *histogram) {
	for i, n := range o {
		h[i] += n
	}
}

// quantiles returns the durations below which the fractions qs (each in [0, 1], in
// increasing order) of the recorded values fall, interpolating linearly within a bucket;
// zeros if nothing was recorded.
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	var total uint64
	for _, n := range h {
		total += uint64(n)
	}
	if total == 0 {
		return out
	}
	var cum uint64
	j, last := 0, 0
	for i, n := range h {
		if n == 0 {
			continue
		}
		last = i
		for j < len(qs) {
			rank := qs[j] * float64(total)
			if rank > float64(cum+uint64(n)) {
				break
			}
			lo, hi := bucketBounds(i)
			frac := (rank - float64(cum)) / float64(n)
			frac = min(max(frac, 0), 1)
			out[j] = time.Duration(lo + frac*(hi-lo))
			j++
		}
		cum += uint64(n)
	}
	for ; j < len(qs); j++ { // a quantile above 1: the top of the last used bucket
		_, hi := bucketBounds(last)
		out[j] = time.Duration(hi)
	}
	return out
}
