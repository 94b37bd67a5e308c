package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// system is one cluster the matrix runs against: the one under test
// (--endpoints or --server) and, with --compare, the other.
type system struct {
	name      string
	endpoints []string
	members   []Member // nil: no per-member figures
}

// runSystems runs every cfg runs times against each system, alternating
// systems run by run (A B, then B A, …, so drift in the machine's load
// falls on both alike), printing each report as it ends. It returns the
// results by system, then cfg, then run.
func runSystems(ctx context.Context, systems []system, cfgs []Config, runs int, stdout io.Writer) ([][][]*Result, error) {
	out := make([][][]*Result, len(systems))
	for s := range out {
		out[s] = make([][]*Result, len(cfgs))
	}
	first := true
	for ci, cfg := range cfgs {
		for run := range runs {
			order := make([]int, len(systems))
			for i := range order {
				order[i] = i
			}
			if run%2 == 1 {
				slices.Reverse(order)
			}
			for _, s := range order {
				sys := systems[s]
				c := cfg
				c.Endpoints, c.Members = sys.endpoints, sys.members
				if !first {
					fmt.Fprintln(stdout)
				}
				first = false
				if len(systems) > 1 || runs > 1 {
					fmt.Fprintf(stdout, "== %s, run %d of %d\n", sys.name, run+1, runs)
				}
				r, err := Run(ctx, c)
				if err != nil {
					return nil, fmt.Errorf("%s: %s at concurrency %d: %w", sys.name, cfg.Workload, cfg.Concurrency, err)
				}
				r.WriteReport(stdout)
				out[s][ci] = append(out[s][ci], r)
				if ctx.Err() != nil {
					return out, nil // interrupted: report what was measured
				}
			}
		}
	}
	return out, nil
}

// column is one figure of the medians table.
type column struct {
	name string
	// value is the figure of one run; ok false when it was not measured.
	value  func(r *Result) (float64, bool)
	format string
	// noRatio: the ratio row leaves this column blank (the machine's
	// figures are not the systems').
	noRatio bool
}

var compareColumns = []column{
	{"ops/s", func(r *Result) (float64, bool) { return r.OpsPerSec(), true }, "%.0f", false},
	{"p50 ms", func(r *Result) (float64, bool) { return ms64(r.Lat.Quantile(0.5)), true }, "%.3f", false},
	{"p99 ms", func(r *Result) (float64, bool) { return ms64(r.Lat.Quantile(0.99)), true }, "%.3f", false},
	{"p99.9 ms", func(r *Result) (float64, bool) { return ms64(r.Lat.Quantile(0.999)), true }, "%.3f", false},
	{"errors", func(r *Result) (float64, bool) { return float64(r.ErrorCount()), true }, "%.0f", false},
	{"cluster µs/op", func(r *Result) (float64, bool) { v, _, _, ok := r.memberCPUPerOp(); return v, ok }, "%.1f", false},
	{"leader µs/op", func(r *Result) (float64, bool) { _, v, _, ok := r.memberCPUPerOp(); return v, ok }, "%.1f", false},
	{"follower µs/op", func(r *Result) (float64, bool) { _, _, v, ok := r.memberCPUPerOp(); return v, ok }, "%.1f", false},
	{"gen µs/op", func(r *Result) (float64, bool) { return r.genCPUPerOp(), true }, "%.1f", false},
	{"fsyncs/op", (*Result).fsyncsPerOp, "%.3f", false},
	{"msgs/op", (*Result).peerMsgsPerOp, "%.2f", false},
	{"peer B/op", (*Result).peerBytesPerOp, "%.0f", false},
	{"syscalls/op", (*Result).syscallsPerOp, "%.1f", false},
	{"peak rss MB", func(r *Result) (float64, bool) { v, ok := r.peakRSS(); return float64(v) / (1 << 20), ok }, "%.0f", false},
	{"machine busy", func(r *Result) (float64, bool) { return 100 * r.MachineBusy, r.MachineCPU > 0 }, "%.0f%%", true},
	{"load", func(r *Result) (float64, bool) { return r.LoadAvg, r.LoadAvg >= 0 }, "%.1f", true},
}

func ms64(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1000 }

// median of the figure over runs; ok false if some run lacks it.
func median(rs []*Result, c column) (float64, bool) {
	var vs []float64
	for _, r := range rs {
		v, ok := c.value(r)
		if !ok {
			return 0, false
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// WriteCompareTable prints, for every matrix entry, each system's medians
// over its runs and, with two systems, the first's figures divided by the
// second's.
func WriteCompareTable(w io.Writer, systems []system, cfgs []Config, results [][][]*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "workload\tconc\tserver\truns\t")
	for _, c := range compareColumns {
		fmt.Fprintf(tw, "%s\t", c.name)
	}
	fmt.Fprintln(tw)
	for ci, cfg := range cfgs {
		label := cfg.Workload
		if cfg.LeaderOnly {
			label += "@leader"
		}
		meds := make([][]float64, len(systems))
		oks := make([][]bool, len(systems))
		for s, sys := range systems {
			rs := results[s][ci]
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t", label, cfg.Concurrency, sys.name, len(rs))
			for _, c := range compareColumns {
				v, ok := median(rs, c)
				meds[s], oks[s] = append(meds[s], v), append(oks[s], ok)
				fmt.Fprintf(tw, "%s\t", optional(c.format, v, ok))
			}
			fmt.Fprintln(tw)
		}
		if len(systems) == 2 && len(meds[0]) > 0 && len(meds[1]) > 0 {
			fmt.Fprintf(tw, "%s\t%d\t%s\t\t", label, cfg.Concurrency, systems[0].name+"/"+systems[1].name)
			for i, c := range compareColumns {
				if c.noRatio {
					fmt.Fprint(tw, "\t")
					continue
				}
				ok := oks[0][i] && oks[1][i] && meds[1][i] != 0
				ratio := math.NaN()
				if ok {
					ratio = meds[0][i] / meds[1][i]
				}
				fmt.Fprintf(tw, "%s\t", optional("%.2fx", ratio, ok))
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
}
