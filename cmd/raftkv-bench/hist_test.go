package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// within reports whether got is within frac of want.
func within(got, want time.Duration, frac float64) bool {
	d := float64(got - want)
	if d < 0 {
		d = -d
	}
	return d <= frac*float64(want)
}

func TestHistogramQuantilesOfKnownLatencies(t *testing.T) {
	// 1 ms … 1000 ms, once each, in random order: the nearest-rank
	// q-quantile is exactly q*1000 ms.
	var h Histogram
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(1000) {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Millisecond},
		{0.9, 900 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{0.999, 999 * time.Millisecond},
		{1, 1000 * time.Millisecond},
	} {
		if got := h.Quantile(c.q); !within(got, c.want, 0.005) {
			t.Errorf("Quantile(%v) = %v, want %v within 0.5%%", c.q, got, c.want)
		}
	}
	if h.Count() != 1000 || h.Min() != time.Millisecond || h.Max() != time.Second {
		t.Errorf("count, min, max = %d, %v, %v; want 1000, 1ms, 1s", h.Count(), h.Min(), h.Max())
	}
	if got := h.Mean(); got != 500500*time.Microsecond {
		t.Errorf("Mean = %v, want 500.5ms", got)
	}
}

func TestHistogramSkewedDistribution(t *testing.T) {
	// 990 fast answers and 10 slow ones: p99 is still fast, p99.9 is slow,
	// the shape a tail-latency report must get right.
	var h Histogram
	for range 990 {
		h.Record(200 * time.Microsecond)
	}
	for range 10 {
		h.Record(40 * time.Millisecond)
	}
	if got := h.Quantile(0.99); !within(got, 200*time.Microsecond, 0.005) {
		t.Errorf("p99 = %v, want 200µs", got)
	}
	if got := h.Quantile(0.999); !within(got, 40*time.Millisecond, 0.005) {
		t.Errorf("p99.9 = %v, want 40ms", got)
	}
	if got := h.CountBelow(time.Millisecond); got != 990 {
		t.Errorf("CountBelow(1ms) = %d, want 990", got)
	}
}

func TestHistogramEmptyAndSmall(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("an empty histogram must report zeros")
	}
	for v := range 256 {
		h = Histogram{}
		h.Record(time.Duration(v))
		if got := h.Quantile(0.5); got != time.Duration(v) {
			t.Fatalf("small value %d came back as %d; values below 256ns are exact", v, got)
		}
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	for i := range 5000 {
		v := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m.counts != all.counts || m.n != all.n || m.minNs != all.minNs || m.maxNs != all.maxNs {
		t.Fatal("merging two halves differs from recording everything in one")
	}
}

// TestHistogramAgainstSortedSamples checks Quantile against the obvious
// implementation, sorting every sample, on random data.
func TestHistogramAgainstSortedSamples(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(rapid.Int64Range(0, int64(time.Hour)), 1, 300).Draw(t, "ns")
		q := rapid.Float64Range(0.001, 1).Draw(t, "q")
		var h Histogram
		for _, v := range vals {
			h.Record(time.Duration(v))
		}
		s := slices.Clone(vals)
		slices.Sort(s)
		rank := int(math.Ceil(float64(len(s)) * q))
		rank = max(1, min(rank, len(s)))
		want := s[rank-1]
		got := int64(h.Quantile(q))
		// Within the bucket: 1/128 of the value, plus 1 ns of rounding.
		if d := got - want; d > want/128+1 || -d > want/128+1 {
			t.Fatalf("Quantile(%v) = %d, sorted samples say %d", q, got, want)
		}
	})
}

func TestBucketRangeInvertsBucketOf(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64Range(0, 1<<62).Draw(t, "v")
		b := bucketOf(v)
		low, width := bucketRange(b)
		if v < low || v >= low+width {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, b, low, low+width)
		}
		if low >= 256 && width*128 > low {
			t.Fatalf("bucket [%d, +%d) is wider than 1/128 of its values", low, width)
		}
		if b >= histBuckets {
			t.Fatalf("bucket %d out of range", b)
		}
	})
}
