package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Bucket layout (see the package doc): values are counted in units of
// 1<<unitShift ns; values below subCount units have a bucket each, and each
// power of two above is split into subCount buckets.
const (
	unitShift  = 10 // 1024 ns: close to PgBouncer's µs, and a shift
	subBits    = 3
	subCount   = 1 << subBits
	numBuckets = 256 // up to (16 << 30) units, about 4.6 hours
)

// bucketOf returns the bucket that counts d.
func bucketOf(d time.Duration) uint8 {
	if d <= 0 {
		return 0
	}
	v := uint64(d) >> unitShift
	if v < subCount {
		return uint8(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1)), e >= subBits
	b := (e-subBits+1)*subCount + int(v>>(e-subBits)&(subCount-1))
	if b >= numBuckets {
		return numBuckets - 1
	}
	return uint8(b)
}

// bucketBounds returns the first value of bucket b and its width, in units.
func bucketBounds(b int) (low, width uint64) {
	if b < subCount {
		return uint64(b), 1
	}
	shift := b/subCount - 1 // e - subBits
	return uint64(subCount+b%subCount) << shift, 1 << shift
}

// Histogram counts durations in log-linear buckets. It is safe for
// concurrent use; the zero value is empty and ready.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) { h.counts[bucketOf(d)].Add(1) }

// Load returns the counts so far.
func (h *Histogram) Load() Distribution {
	var d Distribution
	h.AddTo(&d)
	return d
}

// AddTo adds the counts so far to d: merging without a copy.
func (h *Histogram) AddTo(d *Distribution) {
	for i := range h.counts {
		d.counts[i] += h.counts[i].Load()
	}
}

// Quantiles returns the durations at quantiles q (each in [0, 1]) of what
// has been observed so far.
func (h *Histogram) Quantiles(q []float64) []time.Duration {
	d := h.Load()
	return d.Quantiles(q)
}

// Distribution is a histogram's counts at one moment: a plain value to
// merge, subtract and ask for quantiles. Not safe for concurrent writes.
type Distribution struct {
	counts [numBuckets]uint64
}

// Count is how many durations were observed.
func (d *Distribution) Count() uint64 {
	var n uint64
	for _, c := range d.counts {
		n += c
	}
	return n
}

// Merge adds o's counts to d.
func (d *Distribution) Merge(o *Distribution) {
	for i, c := range o.counts {
		d.counts[i] += c
	}
}

// Sub returns what d observed since earlier. A bucket that went down (the
// counts of a route that was dropped, say) counts as zero.
func (d *Distribution) Sub(earlier *Distribution) Distribution {
	var r Distribution
	for i, c := range d.counts {
		r.counts[i] = sat(c, earlier.counts[i])
	}
	return r
}

// Quantiles returns the durations at quantiles q, in the same order; all
// zero when nothing was observed. A quantile is the midpoint of the bucket
// holding the ceil(q*count)-th smallest observation; q outside [0, 1] is
// clamped.
func (d *Distribution) Quantiles(q []float64) []time.Duration {
	out := make([]time.Duration, len(q))
	n := d.Count()
	if n == 0 {
		return out
	}
	for i, x := range q {
		out[i] = d.quantile(x, n)
	}
	return out
}

// Quantile is Quantiles for one q.
func (d *Distribution) Quantile(q float64) time.Duration {
	n := d.Count()
	if n == 0 {
		return 0
	}
	return d.quantile(q, n)
}

func (d *Distribution) quantile(q float64, n uint64) time.Duration {
	if !(q > 0) { // also NaN
		q = 0
	}
	rank := uint64(math.Ceil(math.Min(q, 1) * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range d.counts {
		seen += c
		if seen >= rank {
			low, width := bucketBounds(b)
			// Twice the midpoint, then halved, so that one-unit buckets
			// get their half unit.
			return time.Duration((2*low + width) << (unitShift - 1))
		}
	}
	low, _ := bucketBounds(numBuckets - 1)
	return time.Duration(low << unitShift)
}

// sat is a - b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
