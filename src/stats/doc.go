// Package stats keeps the traffic figures the console shows in SHOW STATS,
// SHOW TOTALS and SHOW POOLS_EXTENDED: PgBouncer's counters and averages
// and Odyssey's query and transaction time percentiles.
//
// # Who writes, who reads
//
// Each route owns one Counters: plain atomic counters and two latency
// histograms. Sessions do not touch them per message: a session gathers its
// figures in a Batch it owns and flushes the batch to its route's Counters
// at the end of each transaction, so the shared cache lines are written once per
// transaction, never per frame. Readers (the console, the stats ticker)
// take a Snapshot or a Sample at any time; figures are consistent per
// field, not across fields, which is all a monitoring read needs.
//
// # Averages
//
// PgBouncer shows, next to the totals since start, averages over the last
// stats_period: per-second rates for the counts and bytes, and mean
// durations per transaction, per query and per server assignment for the
// times (calc_average in PgBouncer's src/stats.c;
// https://www.pgbouncer.org/usage.html#show-stats). An Averager does that
// for one database: the instance calls Tick once per stats_interval with
// the database's Sample (its routes' Counters summed with AddTo), and the
// console reads Last. The same Period carries the latency histograms of
// the interval, for Odyssey's percentiles over recent traffic.
//
// # Histograms
//
// Durations are counted in fixed log-linear buckets: 8 per power of two
// above 8 µs and one per µs below (a µs being 1024 ns here), from 0 to
// about 4.6 hours, the last bucket open-ended. A quantile is reported as
// the midpoint of its bucket: within 6.25% of the true value above 8 µs,
// within half a µs below. Recording is
// one atomic add: no locks, no allocation. Distributions (plain copies)
// merge by adding buckets, which is how per-pool figures become the
// "aggregated" row of SHOW POOLS_EXTENDED.
package stats
