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
	if len(r.Members) > 0 {
		cl, lead, foll, ok := r.memberCPUPerOp()
		fs, fok := r.fsyncsPerOp()
		pm, pok := r.peerMsgsPerOp()
		sc, sok := r.syscallsPerOp()
		rss, rok := r.peakRSS()
		fmt.Fprintf(&b, " cluster-cpu-us=%s leader-cpu-us=%s follower-cpu-us=%s gen-cpu-us=%.1f fsyncs/op=%s peer-msgs/op=%s syscalls/op=%s peak-rss-mb=%s",
			optional("%.1f", cl, ok), optional("%.1f", lead, ok), optional("%.1f", foll, ok), r.genCPUPerOp(),
			optional("%.3f", fs, fok), optional("%.2f", pm, pok), optional("%.1f", sc, sok), optional("%.1f", float64(rss)/(1<<20), rok))
	}
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
	r.writeMachine(w)
	r.writeServer(w)
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
	server := false
	for _, r := range results {
		server = server || len(r.Members) > 0
	}
	fmt.Fprint(tw, "workload\tconc\tops\tops/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tclient cpu\t")
	if server {
		fmt.Fprint(tw, "cluster µs/op\tleader µs/op\tfollower µs/op\tgen µs/op\tfsyncs/op\tmsgs/op\tsyscalls/op\tpeak rss MB\t")
	}
	fmt.Fprintln(tw)
	for _, r := range results {
		label := r.Workload
		if r.LeaderOnly {
			label += "@leader"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t", label, r.Concurrency, r.Ops, r.OpsPerSec())
		for _, q := range quantiles {
			fmt.Fprintf(tw, "%s\t", ms(r.Lat.Quantile(q.q)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t", ms(r.Lat.Max()), r.ErrorCount(), r.cores())
		if server {
			for _, c := range r.serverCells() {
				fmt.Fprintf(tw, "%s\t", c)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// Server figures per operation, from Result.Members. Each ok is false when
// some member could not be measured.

// perOp divides by the successful operations.
func (r *Result) perOp(x float64) float64 {
	if r.Ops == 0 {
		return 0
	}
	return x / float64(r.Ops)
}

// memberCPUPerOp is the CPU per operation, in µs, of the whole cluster, of
// the leader, and of the average follower.
func (r *Result) memberCPUPerOp() (cluster, leader, follower float64, ok bool) {
	if len(r.Members) == 0 {
		return 0, 0, 0, false
	}
	var total, lead, foll time.Duration
	nFoll := 0
	for _, m := range r.Members {
		if !m.ProcOK {
			return 0, 0, 0, false
		}
		total += m.CPU
		if m.Leader {
			lead += m.CPU
		} else {
			foll += m.CPU
			nFoll++
		}
	}
	us := func(d time.Duration) float64 { return r.perOp(float64(d) / float64(time.Microsecond)) }
	cluster, leader = us(total), us(lead)
	if nFoll > 0 {
		follower = us(foll) / float64(nFoll)
	}
	return cluster, leader, follower, true
}

// genCPUPerOp is the generator's own CPU per operation, in µs.
func (r *Result) genCPUPerOp() float64 {
	return r.perOp(float64(r.ClientCPU) / float64(time.Microsecond))
}

// memberSum sums a per-member figure over the cluster; ok is false if some
// member lacks it (f returns a negative value).
func (r *Result) memberSum(f func(MemberUsage) float64) (float64, bool) {
	if len(r.Members) == 0 {
		return 0, false
	}
	var sum float64
	for _, m := range r.Members {
		v := f(m)
		if v < 0 {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

func (r *Result) fsyncsPerOp() (float64, bool) {
	v, ok := r.memberSum(func(m MemberUsage) float64 { return m.Fsyncs })
	return r.perOp(v), ok
}

func (r *Result) peerMsgsPerOp() (float64, bool) {
	v, ok := r.memberSum(func(m MemberUsage) float64 { return m.PeerMsgs })
	return r.perOp(v), ok
}

func (r *Result) peerBytesPerOp() (float64, bool) {
	v, ok := r.memberSum(func(m MemberUsage) float64 { return m.PeerBytes })
	return r.perOp(v), ok
}

func (r *Result) syscallsPerOp() (float64, bool) {
	v, ok := r.memberSum(func(m MemberUsage) float64 {
		if !m.ProcOK {
			return -1
		}
		return float64(m.Syscalls)
	})
	return r.perOp(v), ok
}

// peakRSS is the largest member's peak resident set, in bytes.
func (r *Result) peakRSS() (uint64, bool) {
	var peak uint64
	for _, m := range r.Members {
		if !m.ProcOK {
			return 0, false
		}
		peak = max(peak, m.PeakRSS)
	}
	return peak, len(r.Members) > 0
}

// optional formats v with format, or "-" when !ok.
func optional(format string, v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// writeServer prints the members' figures of one run.
func (r *Result) writeServer(w io.Writer) {
	if len(r.Members) == 0 {
		return
	}
	cl, lead, foll, ok := r.memberCPUPerOp()
	fmt.Fprintf(w, "  %-10s cluster %s µs/op (leader %s, follower %s); generator %.1f µs/op\n", "cpu",
		optional("%.1f", cl, ok), optional("%.1f", lead, ok), optional("%.1f", foll, ok), r.genCPUPerOp())
	fs, fok := r.fsyncsPerOp()
	pm, pok := r.peerMsgsPerOp()
	pb, bok := r.peerBytesPerOp()
	sc, sok := r.syscallsPerOp()
	fmt.Fprintf(w, "  %-10s fsyncs %s/op, peer messages %s/op, peer bytes %s/op, read+write syscalls %s/op\n", "cluster",
		optional("%.3f", fs, fok), optional("%.2f", pm, pok), optional("%.0f", pb, bok), optional("%.1f", sc, sok))
	for _, m := range r.Members {
		role := "follower"
		if m.Leader {
			role = "leader"
		}
		if !m.ProcOK {
			fmt.Fprintf(w, "  %-10s %s (%s): no /proc figures (not a local process)\n", "member", m.Endpoint, role)
			continue
		}
		fmt.Fprintf(w, "  %-10s %s (%s): cpu %.2fs = %.1f µs/op, syscalls %.1f/op, fsyncs %s/op, peak rss %.1f MB\n", "member",
			m.Endpoint, role, m.CPU.Seconds(), r.perOp(float64(m.CPU)/float64(time.Microsecond)), r.perOp(float64(m.Syscalls)),
			optional("%.3f", r.perOp(m.Fsyncs), m.Fsyncs >= 0), float64(m.PeakRSS)/(1<<20))
	}
}

// serverCells are a table row's member columns.
func (r *Result) serverCells() []string {
	cl, lead, foll, ok := r.memberCPUPerOp()
	fs, fok := r.fsyncsPerOp()
	pm, pok := r.peerMsgsPerOp()
	sc, sok := r.syscallsPerOp()
	rss, rok := r.peakRSS()
	return []string{optional("%.1f", cl, ok), optional("%.1f", lead, ok), optional("%.1f", foll, ok),
		fmt.Sprintf("%.1f", r.genCPUPerOp()), optional("%.3f", fs, fok), optional("%.2f", pm, pok),
		optional("%.1f", sc, sok), optional("%.0f", float64(rss)/(1<<20), rok)}
}

// writeMachine prints how busy the whole machine was, and how much of that
// was the cluster and the generator.
func (r *Result) writeMachine(w io.Writer) {
	if r.MachineCPU <= 0 {
		return
	}
	ours := r.ClientCPU
	for _, m := range r.Members {
		ours += m.CPU
	}
	fmt.Fprintf(w, "  %-10s %.0f%% busy (%.2fs of CPU), of which cluster and generator %.2fs; load average %.2f\n", "machine",
		100*r.MachineBusy, r.MachineCPU.Seconds(), ours.Seconds(), r.LoadAvg)
}
