package instance

import (
	"sort"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/stats"
)

// quantiles are the percentiles SHOW POOLS_EXTENDED reports.
var quantiles = []float64{0.5, 0.9, 0.95, 0.99}

// statsKeeper turns the routes' cumulative counters into PgBouncer's
// per-database averages once per stats_interval.
type statsKeeper struct {
	mu   sync.Mutex
	avg  map[string]*stats.Averager
	last map[string]stats.Period
}

// samples sums the routes' counters by database (the console's excluded).
func (i *Instance) samples() map[string]*stats.Sample {
	now := time.Now()
	out := map[string]*stats.Sample{}
	for _, rt := range i.router.Routes() {
		if !remote(rt) {
			continue
		}
		s := out[rt.Database]
		if s == nil {
			s = &stats.Sample{At: now}
			out[rt.Database] = s
		}
		rt.Counters().AddTo(s)
	}
	return out
}

// statsLoop ticks every stats_interval until the instance closes, and logs
// each database's averages when log_stats is on.
func (i *Instance) statsLoop() {
	for {
		interval := i.Config().StatsInterval
		if interval <= 0 {
			interval = 5 * time.Second
		}
		select {
		case <-i.ctx.Done():
			return
		case <-time.After(interval):
		}
		i.tickStats()
	}
}

func (i *Instance) tickStats() {
	k := &i.stats
	samples := i.samples()
	logStats := i.Config().LogStats
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.avg == nil {
		k.avg, k.last = map[string]*stats.Averager{}, map[string]stats.Period{}
	}
	for db, s := range samples {
		a := k.avg[db]
		if a == nil {
			a = &stats.Averager{}
			k.avg[db] = a
		}
		p := a.Tick(s)
		k.last[db] = p
		if logStats && p.Length > 0 {
			log.L.WithField("db", db).Info("stats: " + p.Averages().String())
		}
	}
}

func (s *source) Stats() []console.Stats {
	samples := s.i.samples()
	k := &s.i.stats
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]console.Stats, 0, len(samples))
	for db, smp := range samples {
		p := k.last[db]
		out = append(out, console.Stats{Database: db, Total: totals(smp.Totals), Avg: averages(p.Averages())})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Database < out[b].Database })
	return out
}

// PoolsExtended is SHOW POOLS with traffic and the all-time percentiles of
// query and transaction durations per pool, and over all pools.
func (s *source) PoolsExtended() ([]console.Pool, console.Percentiles) {
	pools := s.Pools()
	byKey := map[[2]string]int{}
	for k, p := range pools {
		byKey[[2]string{p.Database, p.User}] = k
	}
	var all stats.Sample
	for _, rt := range s.i.router.Routes() {
		k, ok := byKey[[2]string{rt.Database, rt.User}]
		if !ok {
			continue
		}
		var smp stats.Sample
		rt.Counters().AddTo(&smp)
		rt.Counters().AddTo(&all)
		pools[k].BytesReceived = int64(smp.Totals.Received)
		pools[k].BytesSent = int64(smp.Totals.Sent)
		pools[k].Query = smp.Query.Quantiles(quantiles)
		pools[k].Xact = smp.Xact.Quantiles(quantiles)
	}
	return pools, console.Percentiles{Q: quantiles, Query: all.Query.Quantiles(quantiles), Xact: all.Xact.Quantiles(quantiles)}
}

func totals(t stats.Snapshot) console.Counters {
	return console.Counters{
		ServerAssignments: t.ServerAssignments, Xacts: t.Xacts, Queries: t.Queries,
		Received: t.Received, Sent: t.Sent,
		XactTime: t.XactTime, QueryTime: t.QueryTime, WaitTime: t.WaitTime,
		ClientParses: t.ClientParses, ServerParses: t.ServerParses, Binds: t.Binds,
	}
}

func averages(a stats.Averages) console.Counters {
	return console.Counters{
		ServerAssignments: a.ServerAssignments, Xacts: a.Xacts, Queries: a.Queries,
		Received: a.Received, Sent: a.Sent,
		XactTime: a.XactTime, QueryTime: a.QueryTime, WaitTime: a.WaitTime,
		ClientParses: a.ClientParses, ServerParses: a.ServerParses, Binds: a.Binds,
	}
}
