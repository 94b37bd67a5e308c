package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ms formats a duration as milliseconds with microsecond resolution, the
// unit of every latency the report prints.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

// cores is CPU time per second of wall time.
func (r *Result) cores() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return r.ClientCPU.Seconds() / r.Elapsed.Seconds()
}

// Summary is the one-line, machine-readable form of a result: space
// separated key=value pairs, latencies as Go durations in milliseconds.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary workload=%s conc=%d ops=%d secs=%.3f ops/s=%.1f", r.Workload, r.Concurrency, r.Ops, r.Elapsed.Seconds(), r.OpsPerSec())
	for _, q := range quantiles {
		fmt.Fprintf(&b, " %s=%sms", q.key, ms(r.Lat.Quantile(q.q)))
	}
	fmt.Fprintf(&b, " max=%sms errors=%d", ms(r.Lat.Max()), r.ErrorCount())
	if r.Workload == workloadWatch {
		fmt.Fprintf(&b, " writes=%d missed=%d", r.Writes, r.Missed)
	}
	fmt.Fprintf(&b, " client-cpu=%.2f", r.cores())
	if r.LeaderOnly {
		b.WriteString(" to=leader")
	}
	return b.String()
}

var quantiles = []struct {
	key, label string
	q          float64
}{
	{"p50", "p50", 0.50},
	{"p90", "p90", 0.90},
	{"p99", "p99", 0.99},
	{"p999", "p99.9", 0.999},
}

// WriteReport prints the human-readable report of one run, ending with the
// summary line.
func (r *Result) WriteReport(w io.Writer) {
	unit := "ops"
	if r.Workload == workloadWatch {
		unit = "events"
	}
	fmt.Fprintf(w, "%s, concurrency %d\n", r.Workload, r.Concurrency)
	fmt.Fprintf(w, "  %-10s %d %s in %.3fs = %.1f %s/s\n", "throughput", r.Ops, unit, r.Elapsed.Seconds(), r.OpsPerSec(), unit)
	if r.Lat.Count() > 0 {
		fmt.Fprintf(w, "  %-10s min %s  mean %s", "latency", ms(r.Lat.Min()), ms(r.Lat.Mean()))
		for _, q := range quantiles {
			fmt.Fprintf(w, "  %s %s", q.label, ms(r.Lat.Quantile(q.q)))
		}
		fmt.Fprintf(w, "  max %s (ms)\n", ms(r.Lat.Max()))
	}
	if r.Workload == workloadWatch {
		fmt.Fprintf(w, "  %-10s %d acknowledged, p50 %s  p99 %s (ms); events expected %d, missed %d\n", "writes",
			r.Writes, ms(r.WriteLat.Quantile(0.5)), ms(r.WriteLat.Quantile(0.99)), r.Writes*uint64(r.Concurrency), r.Missed)
	}
	fmt.Fprintf(w, "  %-10s %d\n", "errors", r.ErrorCount())
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  %-10s %8d  %s\n", "", r.Errors[k], k)
	}
	fmt.Fprintf(w, "  %-10s %.2fs (%.2f cores)\n", "client cpu", r.ClientCPU.Seconds(), r.cores())
	if r.Lat.Count() > 0 {
		fmt.Fprintf(w, "  histogram (ms)\n")
		writeBins(w, r.Lat)
	}
	fmt.Fprintln(w, r.Summary())
}

// displayBins are the histogram rows' upper bounds: a 1-2-5 series from
// 10 µs to 100 s, so rows are few and their edges round.
var displayBins = func() []time.Duration {
	var out []time.Duration
	for d := 10 * time.Microsecond; d <= 100*time.Second; d *= 10 {
		out = append(out, d, 2*d, 5*d)
	}
	return out
}()

// writeBins prints one row per display bin from the first to the last that
// holds a value: the bin, its count, its share, the cumulative share, a bar.
func writeBins(w io.Writer, h *Histogram) {
	type row struct {
		lo, hi time.Duration
		n      uint64
	}
	var rows []row
	lo := time.Duration(0)
	var below uint64 // h.CountBelow(lo)
	for _, hi := range append(displayBins, 1<<62) {
		n := h.CountBelow(hi)
		rows = append(rows, row{lo, hi, n - below})
		lo, below = hi, n
	}
	first, last := -1, -1
	var peak uint64
	for i, r := range rows {
		if r.n > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, r.n)
		}
	}
	if first < 0 {
		return
	}
	const barWidth = 40
	var cum uint64
	for _, r := range rows[first : last+1] {
		cum += r.n
		hi := ms(r.hi)
		if r.hi == 1<<62 {
			hi = "inf"
		}
		bar := strings.Repeat("#", int((r.n*barWidth+peak-1)/peak))
		fmt.Fprintf(w, "  %9s - %-9s %9d %6.2f%% %7.3f%%  %s\n", ms(r.lo), hi, r.n,
			100*float64(r.n)/float64(h.Count()), 100*float64(cum)/float64(h.Count()), bar)
	}
}

// WriteTable prints the matrix of results as one aligned table.
func WriteTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tconc\tops\tops/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tclient cpu\t")
	for _, r := range results {
		label := r.Workload
		if r.LeaderOnly {
			label += "@leader"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t", label, r.Concurrency, r.Ops, r.OpsPerSec())
		for _, q := range quantiles {
			fmt.Fprintf(tw, "%s\t", ms(r.Lat.Quantile(q.q)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t\n", ms(r.Lat.Max()), r.ErrorCount(), r.cores())
	}
	tw.Flush()
}
