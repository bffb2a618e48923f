package main

import (
	"math"
	"math/bits"
	"time"
)

// Latency histogram in the style of HdrHistogram: values (nanoseconds) are
// kept in log-linear buckets. Values below 2^subBits are exact; above, each
// power of two is split into 2^(subBits-1) equal buckets, so a bucket's width
// is at most 1/64 of its lower bound and a reported percentile is within
// about 1.6% of the true value. Recording is allocation-free and O(1).
const (
	subBits  = 7
	subCount = 1 << subBits                 // exact values 0..127
	subHalf  = subCount / 2                 // buckets per power of two above that
	nBuckets = (64 - subBits + 1) * subHalf // bucketOf(MaxInt64) + 1
)

// histogram is not safe for concurrent use: give each worker its own and
// merge them when the run ends.
type histogram struct {
	counts        [nBuckets]uint64
	n             uint64
	min, max, sum int64
}

// bucketOf returns the index of the bucket that holds v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	return shift*subHalf + int(v>>shift)
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := i/subHalf - 1
	mantissa := int64(i - shift*subHalf)
	return mantissa << shift, (mantissa+1)<<shift - 1
}

// record adds one observation; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// merge adds o's observations to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// percentile returns the value at or below which q percent (0..100) of the
// observations fall: the upper bound of the bucket holding the observation
// of rank ceil(q/100*n), clamped to the observed range. An empty histogram
// reports 0.
func (h *histogram) percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q / 100 * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// mean returns the arithmetic mean of the observations.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / int64(h.n))
}
