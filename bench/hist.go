package bench

import (
	"math/bits"
	"time"
)

// Histogram records durations with a relative error under 1/128 (0.8 %), in the manner of
// HdrHistogram: values below 256 ns are exact; above, each power of two is split into 128
// equal buckets. It covers up to 2^40 ns (about 18 minutes); longer values count as the
// largest. Recording never allocates. A Histogram is not safe for concurrent use: give each
// goroutine its own and Merge them.
type Histogram struct {
	counts [histBuckets]uint32
	total  uint64
	sum    uint64 // nanoseconds
	max    uint64
}

const (
	subBits     = 7
	subCount    = 1 << subBits // buckets per power of two
	maxBits     = 40           // largest value: 2^40-1 ns
	histBuckets = (maxBits-subBits-1)*subCount + 2*subCount
)

func bucketOf(v uint64) int {
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	shift := bits.Len64(v) - (subBits + 1)
	if shift < 0 {
		shift = 0
	}
	return shift*subCount + int(v>>uint(shift))
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width uint64) {
	shift := i/subCount - 1
	if shift < 0 {
		shift = 0
	}
	mant := uint64(i - shift*subCount)
	return mant << uint(shift), 1 << uint(shift)
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the mean of the values recorded.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Quantile returns the value at quantile q (0 < q <= 1): the middle of the bucket holding the
// ceil(q*count)-th smallest value, never more than the largest value recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + (width-1)/2
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
