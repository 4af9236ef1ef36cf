package stats

import (
	"sync/atomic"
	"time"
)

// Snapshot is a set of figures as plain values: totals since start, a
// difference between two moments, or a session's unflushed figures. The
// meanings are PgBouncer's (https://www.pgbouncer.org/usage.html#show-stats).
type Snapshot struct {
	ServerAssignments uint64 // times a server was assigned to a client
	Xacts             uint64 // transactions, explicit or implicit, that ended
	Queries           uint64 // requests answered by ReadyForQuery
	Received, Sent    uint64 // bytes from and to clients
	// XactTime is the time spent in transactions, idle in transaction
	// included; QueryTime the time from a request reaching a server to its
	// ReadyForQuery; WaitTime the time clients waited for a server.
	XactTime, QueryTime, WaitTime time.Duration
	// ClientParses counts Parse messages from clients, ServerParses those
	// sent to servers (forwarded or made by the pooler), Binds Bind
	// messages.
	ClientParses, ServerParses, Binds uint64
}

// Add returns s + o.
func (s Snapshot) Add(o Snapshot) Snapshot {
	return Snapshot{
		ServerAssignments: s.ServerAssignments + o.ServerAssignments,
		Xacts:             s.Xacts + o.Xacts,
		Queries:           s.Queries + o.Queries,
		Received:          s.Received + o.Received,
		Sent:              s.Sent + o.Sent,
		XactTime:          s.XactTime + o.XactTime,
		QueryTime:         s.QueryTime + o.QueryTime,
		WaitTime:          s.WaitTime + o.WaitTime,
		ClientParses:      s.ClientParses + o.ClientParses,
		ServerParses:      s.ServerParses + o.ServerParses,
		Binds:             s.Binds + o.Binds,
	}
}

// Sub returns s - o field by field, a field that would go below zero being
// zero: totals summed over routes can go down when a route is dropped, and
// a rate must not wrap around then.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	return Snapshot{
		ServerAssignments: sat(s.ServerAssignments, o.ServerAssignments),
		Xacts:             sat(s.Xacts, o.Xacts),
		Queries:           sat(s.Queries, o.Queries),
		Received:          sat(s.Received, o.Received),
		Sent:              sat(s.Sent, o.Sent),
		XactTime:          satDuration(s.XactTime, o.XactTime),
		QueryTime:         satDuration(s.QueryTime, o.QueryTime),
		WaitTime:          satDuration(s.WaitTime, o.WaitTime),
		ClientParses:      sat(s.ClientParses, o.ClientParses),
		ServerParses:      sat(s.ServerParses, o.ServerParses),
		Binds:             sat(s.Binds, o.Binds),
	}
}

func satDuration(a, b time.Duration) time.Duration { return max(a-b, 0) }

// Counters are one route's figures since start. Safe for concurrent use;
// the zero value is ready. Writers should go through a Batch (Flush), so
// that the shared atomics are written once per transaction.
type Counters struct {
	serverAssignments atomic.Uint64
	xacts, queries    atomic.Uint64
	received, sent    atomic.Uint64
	xactTime          atomic.Uint64 // nanoseconds
	queryTime         atomic.Uint64
	waitTime          atomic.Uint64
	clientParses      atomic.Uint64
	serverParses      atomic.Uint64
	binds             atomic.Uint64

	// QueryTimes and XactTimes are the durations of each query and each
	// transaction, as summed in QueryTime and XactTime.
	QueryTimes, XactTimes Histogram
}

// Snapshot returns the totals. Each field is read atomically; the set is
// not one instant, which monitoring does not need.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{
		ServerAssignments: c.serverAssignments.Load(),
		Xacts:             c.xacts.Load(),
		Queries:           c.queries.Load(),
		Received:          c.received.Load(),
		Sent:              c.sent.Load(),
		XactTime:          time.Duration(c.xactTime.Load()),
		QueryTime:         time.Duration(c.queryTime.Load()),
		WaitTime:          time.Duration(c.waitTime.Load()),
		ClientParses:      c.clientParses.Load(),
		ServerParses:      c.serverParses.Load(),
		Binds:             c.binds.Load(),
	}
}

// Add adds s's counts (not durations to the histograms, which s does not
// have): figures gathered elsewhere, such as a session's without Counters.
func (c *Counters) Add(s Snapshot) {
	add(&c.serverAssignments, s.ServerAssignments)
	add(&c.xacts, s.Xacts)
	add(&c.queries, s.Queries)
	add(&c.received, s.Received)
	add(&c.sent, s.Sent)
	add(&c.xactTime, uint64(max(s.XactTime, 0)))
	add(&c.queryTime, uint64(max(s.QueryTime, 0)))
	add(&c.waitTime, uint64(max(s.WaitTime, 0)))
	add(&c.clientParses, s.ClientParses)
	add(&c.serverParses, s.ServerParses)
	add(&c.binds, s.Binds)
}

// AddTo adds c's totals and histograms to s, for a Sample of a route or,
// summed over its routes, of a database. s.At is left to the caller.
func (c *Counters) AddTo(s *Sample) {
	s.Totals = s.Totals.Add(c.Snapshot())
	c.QueryTimes.AddTo(&s.Query)
	c.XactTimes.AddTo(&s.Xact)
}

// add skips zero: most fields of a batch are zero (no parses in the simple
// protocol, say), and an atomic add is not free.
func add(a *atomic.Uint64, n uint64) {
	if n != 0 {
		a.Add(n)
	}
}

// batchDurations is how many query (and transaction) durations a Batch
// holds; a batch that fills up adds them to its histogram at once.
const batchDurations = 16

// Batch gathers one owner's figures between flushes: a session adds to it
// on every message and flushes it to its route's Counters at the end of
// each transaction. Not safe for concurrent use. Make one with NewBatch.
type Batch struct {
	Snapshot // add counts and bytes here directly

	to             *Counters
	queries, xacts [batchDurations]uint8 // buckets of unflushed durations
	nq, nx         uint8
}

// NewBatch returns an empty batch that flushes to c. With c nil, Flush
// does nothing and the owner reads the counts from the Snapshot itself;
// durations are then kept only in the QueryTime and XactTime sums.
func NewBatch(c *Counters) Batch { return Batch{to: c} }

// Query counts a query that took d.
func (b *Batch) Query(d time.Duration) {
	b.Queries++
	b.QueryTime += d
	if b.nq == batchDurations {
		b.flushDurations()
	}
	b.queries[b.nq] = bucketOf(d)
	b.nq++
}

// Xact counts a transaction that took d.
func (b *Batch) Xact(d time.Duration) {
	b.Xacts++
	b.XactTime += d
	if b.nx == batchDurations {
		b.flushDurations()
	}
	b.xacts[b.nx] = bucketOf(d)
	b.nx++
}

// Assigned counts a server assignment after waiting d for it.
func (b *Batch) Assigned(wait time.Duration) {
	b.ServerAssignments++
	b.WaitTime += wait
}

// MoveTo moves b's figures to dst, replacing what dst held, and empties
// b: the owner can then flush dst outside its lock.
func (b *Batch) MoveTo(dst *Batch) {
	*dst = *b
	*b = Batch{to: b.to}
}

// Flush adds b's figures and durations to its Counters and empties b.
func (b *Batch) Flush() {
	if b.to != nil {
		b.to.Add(b.Snapshot)
	}
	b.flushDurations()
	*b = Batch{to: b.to}
}

func (b *Batch) flushDurations() {
	if c := b.to; c != nil {
		for _, k := range b.queries[:b.nq] {
			c.QueryTimes.counts[k].Add(1)
		}
		for _, k := range b.xacts[:b.nx] {
			c.XactTimes.counts[k].Add(1)
		}
	}
	b.nq, b.nx = 0, 0
}
