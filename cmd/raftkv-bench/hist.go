package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: every power-of-two range of
// latencies is split into 1<<histSubBits equal buckets, so a recorded value
// is known to within 1/128 (under 0.8%) of itself. Values below 256 ns are
// kept exactly.
const histSubBits = 7

// histBuckets is enough buckets for any non-negative int64 nanosecond value.
const histBuckets = (63-histSubBits)<<histSubBits + 2<<histSubBits

// Histogram is a log-linear latency histogram (the HDR histogram layout):
// fixed memory whatever the run length, constant-time Record, and quantiles
// with a bounded relative error. It is not safe for concurrent use: each
// worker records into its own and the runner merges them.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sumNs  float64
	// invariant: when n > 0, minNs <= every recorded value <= maxNs.
	minNs, maxNs int64
}

// bucketOf maps a value to its bucket: values below 2<<histSubBits map to
// themselves; above that, shift drops all but the top histSubBits+1 bits and
// each shift owns the next 1<<histSubBits buckets.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	shift := bits.Len64(u) - histSubBits - 1
	if shift < 0 {
		shift = 0
	}
	return shift<<histSubBits + int(u>>uint(shift))
}

// bucketRange returns the smallest value of bucket b and the bucket's width.
func bucketRange(b int) (lowNs, widthNs int64) {
	if b < 2<<histSubBits {
		return int64(b), 1
	}
	shift := b>>histSubBits - 1
	m := int64(b - shift<<histSubBits)
	return m << uint(shift), 1 << uint(shift)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.minNs {
		h.minNs = v
	}
	if h.n == 0 || v > h.maxNs {
		h.maxNs = v
	}
	h.n++
	h.sumNs += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.minNs < h.minNs {
		h.minNs = o.minNs
	}
	if h.n == 0 || o.maxNs > h.maxNs {
		h.maxNs = o.maxNs
	}
	h.n += o.n
	h.sumNs += o.sumNs
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are exact.
func (h *Histogram) Min() time.Duration { return time.Duration(h.minNs) }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.maxNs) }

// Mean is exact up to float rounding.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sumNs / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the value of
// the ceil(q*n)-th smallest recording, as the midpoint of its bucket and
// clamped to [Min, Max], so within half a bucket (0.4%) of the true value.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(b)
			v := low + (width-1)/2
			v = max(v, h.minNs)
			v = min(v, h.maxNs)
			return time.Duration(v)
		}
	}
	return time.Duration(h.maxNs)
}

// CountBelow returns how many recorded values are below limit, counting a
// bucket that straddles limit by the bucket's low end; display bins use it.
func (h *Histogram) CountBelow(limit time.Duration) uint64 {
	var n uint64
	for b, c := range h.counts {
		if c == 0 {
			continue
		}
		low, _ := bucketRange(b)
		if low >= int64(limit) {
			break
		}
		n += c
	}
	return n
}
