package stats

import (
	"math"
	"sync"
	"testing"
	"time"
)

const unit = time.Duration(1) << unitShift

func TestBucketLayout(t *testing.T) {
	var next uint64 // the first value the next bucket must start at
	for b := 0; b < numBuckets; b++ {
		low, width := bucketBounds(b)
		if low != next {
			t.Fatalf("bucket %d starts at %d units, want %d (buckets must be contiguous)", b, low, next)
		}
		if got := bucketOf(time.Duration(low) * unit); int(got) != b {
			t.Fatalf("bucketOf(low of %d) = %d", b, got)
		}
		if got := bucketOf(time.Duration(low+width)*unit - 1); int(got) != b {
			t.Fatalf("bucketOf(last ns of %d) = %d", b, got)
		}
		if b >= subCount && float64(width)/float64(low) > 1.0/subCount {
			t.Fatalf("bucket %d is %d wide at %d: more than 1/%d", b, width, low, subCount)
		}
		next = low + width
	}
	for _, d := range []time.Duration{-time.Second, 0, unit - 1} {
		if got := bucketOf(d); got != 0 {
			t.Errorf("bucketOf(%v) = %d, want 0", d, got)
		}
	}
	for _, d := range []time.Duration{5 * time.Hour, math.MaxInt64} {
		if got := bucketOf(d); got != numBuckets-1 {
			t.Errorf("bucketOf(%v) = %d, want the last bucket", d, got)
		}
	}
	if last := time.Duration(next) * unit; last < 4*time.Hour {
		t.Errorf("buckets end at %v, want hours", last)
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	if got := h.Quantiles([]float64{0.5, 0.99}); got[0] != 0 || got[1] != 0 {
		t.Fatalf("empty histogram: %v, want zeros", got)
	}
	// 1 ms .. 1000 ms, one each: the q-quantile is q seconds.
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	qs := []float64{0, 0.5, 0.9, 0.95, 0.99, 1}
	want := []time.Duration{time.Millisecond, 500 * time.Millisecond, 900 * time.Millisecond,
		950 * time.Millisecond, 990 * time.Millisecond, time.Second}
	got := h.Quantiles(qs)
	for i := range qs {
		if err := math.Abs(float64(got[i]-want[i])) / float64(want[i]); err > 1.0/16 {
			t.Errorf("q%v = %v, want %v within 6.25%% (off by %.1f%%)", qs[i], got[i], want[i], 100*err)
		}
	}
	d := h.Load()
	if d.Quantile(-1) != got[0] || d.Quantile(math.NaN()) != got[0] || d.Quantile(2) != got[5] {
		t.Errorf("q outside [0,1] is not clamped: %v %v %v", d.Quantile(-1), d.Quantile(math.NaN()), d.Quantile(2))
	}

	// Below 8 units each unit has its bucket: a 3 µs query reads back as
	// 3.5 units.
	var small Histogram
	small.Observe(3 * unit)
	if got := small.Quantiles([]float64{0.5})[0]; got != 3*unit+unit/2 {
		t.Errorf("small value: %v, want %v", got, 3*unit+unit/2)
	}
	var huge Histogram
	huge.Observe(100 * time.Hour)
	if got := huge.Quantiles([]float64{1})[0]; got < 4*time.Hour {
		t.Errorf("value past the last bucket reads %v, want at least 4h", got)
	}
}

func TestDistributionMergeSub(t *testing.T) {
	var a, b Histogram
	for range 3 {
		a.Observe(time.Millisecond)
	}
	b.Observe(time.Second)
	da, db := a.Load(), b.Load()
	var agg Distribution
	agg.Merge(&da)
	b.AddTo(&agg)
	if agg.Count() != 4 {
		t.Fatalf("merged count %d, want 4", agg.Count())
	}
	if q := agg.Quantile(1); q < 900*time.Millisecond {
		t.Errorf("merged max %v, want about 1s", q)
	}
	if q := agg.Quantile(0.5); q > 2*time.Millisecond {
		t.Errorf("merged median %v, want about 1ms", q)
	}
	since := agg.Sub(&da)
	if since.Count() != 1 || since.Quantile(0) != db.Quantile(0) {
		t.Errorf("agg - a: %d observations at %v, want b's one", since.Count(), since.Quantile(0))
	}
	if back := da.Sub(&agg); back.Count() != 0 {
		t.Errorf("a - agg = %d observations, want 0 (saturated)", back.Count())
	}
}

func TestSnapshotAddSub(t *testing.T) {
	a := Snapshot{ServerAssignments: 1, Xacts: 2, Queries: 3, Received: 4, Sent: 5, XactTime: 6, QueryTime: 7, WaitTime: 8, ClientParses: 9, ServerParses: 10, Binds: 11}
	sum := a.Add(a)
	want := Snapshot{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}
	if sum != want {
		t.Fatalf("a+a = %+v, want %+v", sum, want)
	}
	if d := sum.Sub(a); d != a {
		t.Fatalf("2a-a = %+v, want %+v", d, a)
	}
	if d := a.Sub(sum); d != (Snapshot{}) {
		t.Fatalf("a-2a = %+v, want zero (saturated)", d)
	}
}

func TestBatchFlush(t *testing.T) {
	var c Counters
	b := NewBatch(&c)
	b.Received += 100
	b.Sent += 200
	b.ClientParses++
	b.ServerParses += 2
	b.Binds += 3
	b.Assigned(4 * time.Millisecond)
	for range 40 { // more than a batch holds: durations spill early
		b.Query(time.Millisecond)
	}
	b.Xact(50 * time.Millisecond)
	if got := c.Snapshot(); got.Queries != 0 || got.Received != 0 {
		t.Fatalf("counts reached Counters before Flush: %+v", got)
	}
	if d := c.QueryTimes.Load(); d.Count() != 32 {
		n := d.Count()
		t.Fatalf("%d query durations flushed early, want the 32 of two full batches", n)
	}
	var taken Batch
	b.MoveTo(&taken)
	if b.Snapshot != (Snapshot{}) || b.nq != 0 {
		t.Fatalf("MoveTo left %+v in the batch", b.Snapshot)
	}
	taken.Flush()
	want := Snapshot{ServerAssignments: 1, Xacts: 1, Queries: 40, Received: 100, Sent: 200,
		XactTime: 50 * time.Millisecond, QueryTime: 40 * time.Millisecond, WaitTime: 4 * time.Millisecond,
		ClientParses: 1, ServerParses: 2, Binds: 3}
	if got := c.Snapshot(); got != want {
		t.Fatalf("after Flush: %+v\nwant %+v", got, want)
	}
	dq, dx := c.QueryTimes.Load(), c.XactTimes.Load()
	if q, x := dq.Count(), dx.Count(); q != 40 || x != 1 {
		t.Fatalf("histograms hold %d queries, %d transactions; want 40, 1", q, x)
	}
	// Flushing again adds nothing; b still flushes to c.
	taken.Flush()
	b.Query(time.Second)
	b.Flush()
	if got := c.Snapshot(); got.Queries != 41 {
		t.Fatalf("queries %d, want 41", got.Queries)
	}

	// Without Counters the owner keeps the counts; nothing breaks.
	orphan := NewBatch(nil)
	for range 3 * batchDurations {
		orphan.Query(time.Millisecond)
		orphan.Xact(time.Millisecond)
	}
	if orphan.Queries != 3*batchDurations || orphan.XactTime != 3*batchDurations*time.Millisecond {
		t.Fatalf("orphan batch: %+v", orphan.Snapshot)
	}
	orphan.Flush()
}

func TestBatchDoesNotAllocate(t *testing.T) {
	var c Counters
	b := NewBatch(&c)
	allocs := testing.AllocsPerRun(100, func() {
		b.Received += 10
		b.Assigned(time.Microsecond)
		b.Query(time.Millisecond)
		b.Xact(time.Millisecond)
		var t Batch
		b.MoveTo(&t)
		t.Flush()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per transaction, want 0", allocs)
	}
}

func TestAverages(t *testing.T) {
	p := Period{Length: 2 * time.Second, Delta: Snapshot{
		ServerAssignments: 4, Xacts: 10, Queries: 30, Received: 2000, Sent: 4001,
		XactTime: 50 * time.Millisecond, QueryTime: 60 * time.Millisecond, WaitTime: 8 * time.Millisecond,
		ClientParses: 6, ServerParses: 2, Binds: 20,
	}}
	want := Averages{ServerAssignments: 2, Xacts: 5, Queries: 15, Received: 1000, Sent: 2000,
		ClientParses: 3, ServerParses: 1, Binds: 10,
		XactTime: 5 * time.Millisecond, QueryTime: 2 * time.Millisecond, WaitTime: 2 * time.Millisecond}
	if got := p.Averages(); got != want {
		t.Fatalf("averages %+v\nwant %+v", got, want)
	}
	if s := want.String(); s != "stats: 5 xacts/s, 15 queries/s, 3 client parses/s, 1 server parses/s, 10 binds/s, in 1000 B/s, out 2000 B/s, xact 5000 us, query 2000 us, wait 2000 us" {
		t.Errorf("log line %q", s)
	}
	if got := (&Period{Delta: p.Delta}).Averages(); got != (Averages{}) {
		t.Errorf("a period of no length: %+v, want zeros", got)
	}
	idle := Period{Length: time.Second, Delta: Snapshot{Received: 5}}
	if got := idle.Averages(); got.XactTime != 0 || got.QueryTime != 0 || got.WaitTime != 0 || got.Received != 5 {
		t.Errorf("no transactions: %+v, want zero times and 5 B/s", got)
	}
	if got := perSecond(math.MaxUint64, time.Nanosecond); got != math.MaxUint64 {
		t.Errorf("overflowing rate %d, want saturation", got)
	}
	if got := perSecond(math.MaxUint64/2, time.Hour); got != math.MaxUint64/2/3600 {
		t.Errorf("large rate %d, want %d", got, uint64(math.MaxUint64/2/3600))
	}
}

func TestAverager(t *testing.T) {
	var c Counters
	var a Averager
	sample := func(at time.Time) *Sample {
		s := &Sample{At: at}
		c.AddTo(s)
		return s
	}
	start := time.Now()
	b := NewBatch(&c)
	b.Query(time.Millisecond)
	b.Flush()
	if p := a.Tick(sample(start)); p.Length != 0 || p.Delta != (Snapshot{}) {
		t.Fatalf("first tick: %+v, want an empty period", p.Delta)
	}
	for range 10 {
		b.Query(3 * time.Millisecond)
		b.Xact(3 * time.Millisecond)
	}
	b.Flush()
	p := a.Tick(sample(start.Add(5 * time.Second)))
	if p.Length != 5*time.Second || p.Delta.Queries != 10 || p.Delta.Xacts != 10 {
		t.Fatalf("second tick: %v, %+v", p.Length, p.Delta)
	}
	if p.Query.Count() != 10 || p.Query.Quantile(0.5) < 2*time.Millisecond {
		t.Fatalf("period's query durations: %d, median %v; want the 10 of 3ms", p.Query.Count(), p.Query.Quantile(0.5))
	}
	last := a.Last()
	if avg := last.Averages(); avg.Queries != 2 || avg.QueryTime != 3*time.Millisecond {
		t.Fatalf("Last: %+v", avg)
	}

	// The other pool of the aggregated row.
	other := Period{Length: 5 * time.Second, Delta: Snapshot{Queries: 1}}
	other.Query.counts[bucketOf(time.Second)] = 1
	agg := a.Last()
	agg.Merge(&other)
	if agg.Delta.Queries != 11 || agg.Query.Count() != 11 || agg.Query.Quantile(1) < 900*time.Millisecond {
		t.Fatalf("merged period: %+v, %d durations", agg.Delta, agg.Query.Count())
	}

	// A database whose route was dropped: totals go down; nothing wraps.
	var empty Sample
	empty.At = start.Add(10 * time.Second)
	if p := a.Tick(&empty); p.Delta != (Snapshot{}) || p.Averages().Queries != 0 {
		t.Fatalf("totals went down: %+v", p.Delta)
	}
}

func TestCountersConcurrent(t *testing.T) {
	var c Counters
	var a Averager
	const writers, txs = 4, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // a console reading while sessions write
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := &Sample{At: time.Now()}
			c.AddTo(s)
			a.Tick(s)
			last := a.Last()
			_ = last.Averages()
			_ = c.QueryTimes.Quantiles([]float64{0.5, 0.99})
		}
	}()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := NewBatch(&c)
			for range txs {
				b.Received += 10
				b.Assigned(time.Microsecond)
				b.Query(time.Millisecond)
				b.Query(time.Millisecond)
				b.Xact(2 * time.Millisecond)
				b.Flush()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-readerDone
	got := c.Snapshot()
	if got.Queries != 2*writers*txs || got.Xacts != writers*txs || got.Received != 10*writers*txs ||
		got.XactTime != 2*time.Millisecond*writers*txs {
		t.Fatalf("totals %+v", got)
	}
	if d := c.QueryTimes.Load(); d.Count() != 2*writers*txs {
		n := d.Count()
		t.Fatalf("query histogram holds %d, want %d", n, 2*writers*txs)
	}
}

// BenchmarkTransaction is a session's cost per transaction: gather a
// query and a transaction and flush them.
func BenchmarkTransaction(b *testing.B) {
	var c Counters
	batch := NewBatch(&c)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		batch.Received += 30
		batch.Sent += 60
		batch.Assigned(time.Microsecond)
		batch.Query(100 * time.Microsecond)
		batch.Xact(100 * time.Microsecond)
		var t Batch
		batch.MoveTo(&t)
		t.Flush()
	}
}
