package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Figures. Each is a median over the rounds.
const (
	figTPS      = "tps"
	figLatAvg   = "latency avg, ms"
	figLatP99   = "latency p99, ms"
	figCPU      = "CPU µs/tx"
	figCPUConn  = "CPU µs/connection" // figCPU of a storm
	figConnRate = "connections/s"
	figConnTime = "connect time avg, ms" // pgbench's own figure
	figIdle     = "KiB per idle client"
	// figIdleActive is figIdle 2 s after each client has run a query;
	// figIdleRested restedAfter later (idle.go).
	figIdleActive = "KiB per idle client, 2 s after a query"
	figIdleRested = "KiB per idle client, 12 s after a query"
)

// idleWork is the memory measurement's name for BENCH_ONLY and results.
const idleWork = "idle"

// results holds every sample, by workload, server kind and figure.
type results struct {
	samples map[[3]string][]float64
	skipped map[[2]string]string // why a workload was not run on a kind
	failed  map[[2]string]bool
	notes   []string
}

func newResults() *results {
	return &results{samples: map[[3]string][]float64{}, skipped: map[[2]string]string{}, failed: map[[2]string]bool{}}
}

func (r *results) add(work, kind, fig string, v float64) {
	k := [3]string{work, kind, fig}
	r.samples[k] = append(r.samples[k], v)
}

func (r *results) skip(work, kind, why string) { r.skipped[[2]string{work, kind}] = why }

func (r *results) fail(work, kind, msg string) {
	r.failed[[2]string{work, kind}] = true
	r.note("FAILED " + msg)
}

func (r *results) note(s string) {
	for _, n := range r.notes {
		if n == s {
			return
		}
	}
	r.notes = append(r.notes, s)
}

// target is the goal for one figure: the ratio pooler/PgBouncer (or, with
// abs, the pooler's own value) at most or at least limit.
type target struct {
	atLeast bool
	limit   float64
	abs     bool
	unit    string
}

func (t target) String() string {
	op := "≤"
	if t.atLeast {
		op = "≥"
	}
	if t.abs {
		return fmt.Sprintf("%s %g %s", op, t.limit, t.unit)
	}
	return fmt.Sprintf("%s %.1f×", op, t.limit)
}

func (t target) met(v float64) bool {
	if t.atLeast {
		return v >= t.limit
	}
	return v <= t.limit
}

// targetFor is issue 5's goal for fig of workload w, if it has one.
func targetFor(w workload, fig string) (target, bool) {
	selectRun := len(w.args) > 0 && w.args[0] == "-S"
	switch {
	case fig == figCPU && selectRun && w.clients == 100:
		return target{limit: 1}, true
	case fig == figTPS && selectRun && (w.clients == 100 || w.clients == 1000):
		return target{atLeast: true, limit: 1}, true
	case fig == figLatP99 && selectRun && w.clients == 1000:
		return target{limit: 1}, true
	case fig == figConnRate && w.tls:
		return target{atLeast: true, limit: 1.5}, true
	case fig == figConnRate:
		return target{atLeast: true, limit: 1}, true
	case fig == figIdle || fig == figIdleActive || fig == figIdleRested:
		return target{limit: 8, abs: true, unit: "KiB"}, true
	}
	return target{}, false
}

func figures(w workload) []string {
	switch {
	case w.name == idleWork:
		return []string{figIdle, figIdleActive, figIdleRested}
	case w.storm:
		return []string{figConnRate, figConnTime, figCPUConn}
	}
	return []string{figTPS, figLatAvg, figLatP99, figCPU}
}

func format(fig string, v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch fig {
	case figTPS, figConnRate:
		return fmt.Sprintf("%.0f", v)
	case figLatAvg, figLatP99, figConnTime:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// report renders the markdown: the table of medians, the notes, then every
// round's values.
func (b *bench) report(ws []workload) string {
	r := b.res
	var md strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }

	pf("# make bench: Odyssey-Go against PgBouncer\n\n")
	pf("%s · %s, %d CPUs · load average %s at the start, %s at the end\n\n",
		b.started.UTC().Format("2006-01-02 15:04 UTC"), cpuModel(), runtime.NumCPU(), b.load[0], b.load[1])
	pf("%s · %s · %s with `pgbench -i -s %s` · pgbench -j 2\n\n",
		version(b.poolerBin, "--version"), version(b.bouncerBin, "--version"),
		strings.Replace(version(b.pg.Bin("postgres"), "-V"), "postgres (PostgreSQL)", "PostgreSQL", 1), scale)
	idle := ""
	if b.want(idleWork) {
		idle = fmt.Sprintf(" Memory: %d idle clients on a freshly started process of each.", b.idleN)
	}
	pf("%d round(s) of %v per run, each workload against Odyssey-Go, PgBouncer and PostgreSQL in turn; "+
		"medians over the rounds. Both poolers: transaction pooling, pool size %d, no authentication (trust), "+
		"connection logging off, the same certificate for TLS clients.%s "+
		"Everything runs on 127.0.0.1 on this one machine, pgbench and PostgreSQL included.\n\n",
		b.s.rounds, b.s.duration, b.s.poolSize, idle)
	pf("ratio = Odyssey-Go ÷ PgBouncer. Higher is better for tps and connections/s; lower for latency, CPU and memory. " +
		"CPU µs/tx is the process's user+system time (/proc/PID/stat) over the run divided by the transactions " +
		"(for a storm, per connection); latencies come from pgbench's per-transaction logs.\n\n")

	pf("| workload | figure | Odyssey-Go | PgBouncer | ratio | target | met | PostgreSQL |\n")
	pf("| --- | --- | ---: | ---: | ---: | --- | --- | ---: |\n")
	all := append(ws, workload{name: idleWork, title: "idle clients"})
	for _, w := range all {
		if w.name == idleWork && !b.want(idleWork) {
			continue
		}
		if why := r.skipped[[2]string{w.name, kindPooler}]; why != "" {
			if parts := strings.SplitN(why, ": ", 3); len(parts) == 3 {
				why = parts[0] + ": " + parts[1] + " (see the notes)"
			}
			pf("| %s | | %s | | | | | |\n", w.title, why)
			continue
		}
		for _, fig := range figures(w) {
			pool := median(r.samples[[3]string{w.name, kindPooler, fig}])
			bouncer := median(r.samples[[3]string{w.name, kindBouncer, fig}])
			direct := "–"
			if w.direct && fig != figCPU && fig != figCPUConn {
				direct = format(fig, median(r.samples[[3]string{w.name, kindDirect, fig}]))
			}
			ratio := pool / bouncer
			ratioS := "–"
			if !math.IsNaN(ratio) && !math.IsInf(ratio, 0) {
				ratioS = fmt.Sprintf("%.2f×", ratio)
			}
			tgtS, met := "", ""
			if t, ok := targetFor(w, fig); ok {
				tgtS = t.String()
				v := ratio
				if t.abs {
					v = pool
				}
				switch {
				case math.IsNaN(v) || math.IsInf(v, 0):
					met = "?"
				case t.met(v):
					met = "yes"
				default:
					met = "**no**"
				}
			}
			pf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", w.title, fig, format(fig, pool), format(fig, bouncer), ratioS, tgtS, met, direct)
		}
	}
	var notes []string
	for _, w := range all {
		for _, kind := range []string{kindPooler, kindBouncer} {
			if why := r.skipped[[2]string{w.name, kind}]; why != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", w.title, kind, why))
			}
		}
	}
	notes = append(notes, r.notes...)
	if len(notes) > 0 {
		pf("\nNotes:\n\n")
		for _, n := range notes {
			pf("- %s\n", strings.ReplaceAll(strings.TrimSpace(n), "\n", "\n  "))
		}
	}

	if b.s.rounds > 1 {
		pf("\n<details><summary>Every round</summary>\n\n")
		pf("| workload | figure | Odyssey-Go | PgBouncer | PostgreSQL |\n| --- | --- | --- | --- | --- |\n")
		for _, w := range all {
			for _, fig := range figures(w) {
				row := []string{}
				for _, kind := range []string{kindPooler, kindBouncer, kindDirect} {
					var vs []string
					for _, v := range r.samples[[3]string{w.name, kind, fig}] {
						vs = append(vs, format(fig, v))
					}
					row = append(row, strings.Join(vs, " · "))
				}
				if row[0] == "" && row[1] == "" {
					continue
				}
				pf("| %s | %s | %s |\n", w.title, fig, strings.Join(row, " | "))
			}
		}
		pf("\n</details>\n")
	}
	if b.s.profile {
		pf("\nProfiles of the pooler under -S, 100 clients: `go tool pprof -http=: bin/odyssey %s/pprof-cpu-simple.pb.gz` "+
			"(also -extended, and pprof-allocs-*; `-top` summaries in the .txt files next to them).\n", b.s.out)
	}
	pf("\nReproduce: `make bench` (`BENCH_QUICK=1` for one short round). Took %s.\n", time.Since(b.started).Round(time.Second))
	return md.String()
}

// version runs bin with flag and returns its first line.
func version(bin, flag string) string {
	out, err := exec.Command(bin, flag).Output()
	if err != nil {
		return bin
	}
	return firstLine(out)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
