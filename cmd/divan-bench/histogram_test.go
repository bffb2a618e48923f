package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsRoundTrip(t *testing.T) {
	// Every bucket's bounds map back to it, buckets tile the value range
	// without gaps, and no bucket is wider than 1/64 of its lower bound.
	prevHi := int64(-1)
	for i := range nBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subHalf {
			t.Fatalf("bucket %d [%d,%d] too wide", i, lo, hi)
		}
		prevHi = hi
		if hi == math.MaxInt64 {
			if i != nBuckets-1 {
				t.Fatalf("max int64 in bucket %d of %d", i, nBuckets)
			}
			return
		}
	}
	t.Fatalf("buckets end at %d, before MaxInt64", prevHi)
}

func TestPercentileExactSmallValues(t *testing.T) {
	var h histogram
	for v := 1; v <= 100; v++ {
		h.record(time.Duration(v))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {1, 1}, {50, 50}, {50.5, 51}, {99, 99}, {99.9, 100}, {100, 100}} {
		if got := h.percentile(tc.q); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestPercentileRelativeError(t *testing.T) {
	// Random latencies from 10µs to 10s: every percentile is within 1/64 of
	// the exact order statistic, and never below it.
	rng := rand.New(rand.NewPCG(7, 9))
	var h histogram
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(math.Exp(rng.Float64()*math.Log(1e6)) * 1e4)
		h.record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{1, 10, 50, 90, 99, 99.9, 100} {
		rank := int(math.Ceil(q / 100 * float64(len(vals))))
		exact := vals[rank-1]
		got := int64(h.percentile(q))
		if got < exact || float64(got-exact) > float64(exact)/subHalf {
			t.Errorf("p%v = %d, exact %d", q, got, exact)
		}
	}
	if got := h.percentile(100); int64(got) != vals[len(vals)-1] {
		t.Errorf("p100 = %d, want max %d", got, vals[len(vals)-1])
	}
}

func TestPercentileEmptyAndClamped(t *testing.T) {
	var h histogram
	if got := h.percentile(99); got != 0 {
		t.Fatalf("empty p99 = %v", got)
	}
	// A single value is reported exactly, not as its bucket's upper bound.
	h.record(1_000_003 * time.Nanosecond)
	for _, q := range []float64{0, 50, 100} {
		if got := h.percentile(q); got != 1_000_003 {
			t.Errorf("p%v = %d, want 1000003", q, got)
		}
	}
	h.record(-5) // clock oddities count as zero
	if h.min != 0 || h.percentile(50) != 0 {
		t.Errorf("negative sample: min %d, p50 %v", h.min, h.percentile(50))
	}
}

func TestMerge(t *testing.T) {
	var a, b, all histogram
	for v := range 1000 {
		d := time.Duration(v) * time.Microsecond
		all.record(d)
		if v%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&histogram{}) // empty merges are no-ops
	m.merge(&b)
	if m.n != all.n || m.min != all.min || m.max != all.max || m.sum != all.sum {
		t.Fatalf("merged n/min/max/sum %d/%d/%d/%d, want %d/%d/%d/%d", m.n, m.min, m.max, m.sum, all.n, all.min, all.max, all.sum)
	}
	for _, q := range []float64{50, 99} {
		if m.percentile(q) != all.percentile(q) {
			t.Errorf("merged p%v = %v, want %v", q, m.percentile(q), all.percentile(q))
		}
	}
	if got, want := m.mean(), 499500*time.Nanosecond; got != want {
		t.Errorf("mean = %v, want %v", got, want)
	}
}
