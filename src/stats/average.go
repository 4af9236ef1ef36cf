package stats

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"
)

// Sample is the cumulative figures of a route, or of a database summed
// over its routes, at one moment. Build it with Counters.AddTo.
type Sample struct {
	At          time.Time
	Totals      Snapshot
	Query, Xact Distribution // durations of queries and transactions
}

// Period is what happened between two Samples: one stats_interval.
type Period struct {
	Length      time.Duration // zero before the second Tick
	Delta       Snapshot
	Query, Xact Distribution // durations observed in the period
}

// Merge adds o to p, for the "aggregated" percentiles over several pools;
// the longer Length is kept.
func (p *Period) Merge(o *Period) {
	p.Length = max(p.Length, o.Length)
	p.Delta = p.Delta.Add(o.Delta)
	p.Query.Merge(&o.Query)
	p.Xact.Merge(&o.Xact)
}

// Averages are PgBouncer's avg_ figures for a period: per-second rates for
// the counts and bytes, mean durations for the times.
type Averages struct {
	ServerAssignments, Xacts, Queries uint64 // per second
	Received, Sent                    uint64 // bytes per second
	ClientParses, ServerParses, Binds uint64 // per second
	// XactTime is the mean per transaction, QueryTime per query, WaitTime
	// per server assignment; zero when there were none.
	XactTime, QueryTime, WaitTime time.Duration
}

// Averages computes PgBouncer's averages (calc_average in src/stats.c):
// rates are count * 1s / Length, truncated; the times are the period's
// time sum divided by its count of transactions, queries and server
// assignments. A period of no length has all averages zero, as there.
func (p *Period) Averages() Averages {
	d := p.Delta
	if p.Length <= 0 {
		return Averages{}
	}
	rate := func(n uint64) uint64 { return perSecond(n, p.Length) }
	return Averages{
		ServerAssignments: rate(d.ServerAssignments),
		Xacts:             rate(d.Xacts),
		Queries:           rate(d.Queries),
		Received:          rate(d.Received),
		Sent:              rate(d.Sent),
		ClientParses:      rate(d.ClientParses),
		ServerParses:      rate(d.ServerParses),
		Binds:             rate(d.Binds),
		XactTime:          mean(d.XactTime, d.Xacts),
		QueryTime:         mean(d.QueryTime, d.Queries),
		WaitTime:          mean(d.WaitTime, d.ServerAssignments),
	}
}

// String is PgBouncer's log_stats line.
func (a Averages) String() string {
	return fmt.Sprintf("stats: %d xacts/s, %d queries/s, %d client parses/s, %d server parses/s, %d binds/s, in %d B/s, out %d B/s, xact %d us, query %d us, wait %d us",
		a.Xacts, a.Queries, a.ClientParses, a.ServerParses, a.Binds, a.Received, a.Sent,
		a.XactTime.Microseconds(), a.QueryTime.Microseconds(), a.WaitTime.Microseconds())
}

// perSecond is n per d, scaled to one second, without overflow.
func perSecond(n uint64, d time.Duration) uint64 {
	hi, lo := bits.Mul64(n, uint64(time.Second))
	if hi >= uint64(d) {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	return q
}

func mean(sum time.Duration, n uint64) time.Duration {
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// Averager keeps the last stats period of one database (or route). The
// stats ticker calls Tick every stats_interval; the console calls Last at
// any time. Safe for concurrent use; the zero value is ready.
type Averager struct {
	mu      sync.Mutex
	prev    Sample
	started bool
	last    Period
}

// Tick closes the period that ends at cur.At and starts the next one. The
// first Tick only starts a period. It returns the closed period, which
// Last returns until the next Tick.
func (a *Averager) Tick(cur *Sample) Period {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		a.last = Period{
			Length: cur.At.Sub(a.prev.At),
			Delta:  cur.Totals.Sub(a.prev.Totals),
			Query:  cur.Query.Sub(&a.prev.Query),
			Xact:   cur.Xact.Sub(&a.prev.Xact),
		}
	}
	a.prev = *cur
	a.started = true
	return a.last
}

// Last returns the period closed by the latest Tick; a zero Period before
// the second.
func (a *Averager) Last() Period {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}
