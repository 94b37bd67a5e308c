// Command raft-fig16 reproduces Figure 16 of the extended Raft paper
// (Ongaro and Ousterhout, "In Search of an Understandable Consensus
// Algorithm", §9.3): the time a 5-member cluster is without a leader after
// its leader crashes, for several ranges of randomized election timeouts,
// with raftkv's own node core in the deterministic simulator
// (sim.ElectionAfterCrash). See README.md in this directory.
//
//	go run ./papers/raft-fig16 [-out DIR] [-scale F] [-j N] [-variants LIST]
//
// It writes trials.csv, summary.csv, results.md and the plots
// fig16-<variant>.svg and .png into DIR (default papers/raft-fig16).
package main

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/raftkv/raftkv/papers/internal/run"
	"github.com/raftkv/raftkv/sim"
)

func main() { run.Main("raft-fig16", runMain) }

// span is one line of the figure: election timeouts drawn from
// [minMs, maxMs].
type span struct {
	minMs, maxMs float64
	top, bottom  bool // in the top graph (randomness), the bottom one (scale)
}

func (s span) String() string { return fmt.Sprintf("%g–%g ms", s.minMs, s.maxMs) }

// trials is the paper's count: 1000 per line, 100 for 150–150 ms.
func (s span) trials() int {
	if s.minMs == s.maxMs {
		return 100
	}
	return 1000
}

var spans = []span{
	{150, 150, true, false}, {150, 151, true, false}, {150, 155, true, false},
	{150, 175, true, false}, {150, 200, true, false}, {150, 300, true, true},
	{12, 24, false, true}, {25, 50, false, true}, {50, 100, false, true}, {100, 200, false, true},
}

// The timing model: a one-way latency of 6 ms plus an exponential tail of
// mean 1 ms, disks that take 1 ms to make a Ready durable, ticks of 100 µs.
// A vote round trip (request, the voter's disk write, answer) is then about
// 15 ms, the paper's broadcast time.
var paperTiming = sim.ElectionTiming{TickUs: 100, LatencyMinMs: 6, LatencyTailMs: 1, SyncMs: 1}

// variant is one set of lines: the paper's procedure, or a change to it.
type variant struct {
	name, desc           string
	preVote, checkQuorum bool
	equalLogs            bool
	timing               sim.ElectionTiming
	// main variants run the paper's trial counts and get their trials in
	// trials.csv and a figure; the others run a quarter of them.
	main bool
}

var variants = []variant{
	{name: "paper", desc: "the paper's procedure: Pre-Vote and CheckQuorum off", timing: paperTiming, main: true},
	{name: "prevote-checkquorum", desc: "the same with Pre-Vote and CheckQuorum on (beyond the paper)",
		preVote: true, checkQuorum: true, timing: paperTiming, main: true},
	{name: "prevote", desc: "Pre-Vote on, CheckQuorum off", preVote: true, timing: paperTiming},
	{name: "checkquorum", desc: "CheckQuorum on, Pre-Vote off", checkQuorum: true, timing: paperTiming},
	{name: "equal-logs", desc: "ablation: the paper's procedure with every log equally long", equalLogs: true, timing: paperTiming},
	{name: "tick-1ms", desc: "ablation: the paper's procedure with 1 ms ticks",
		timing: sim.ElectionTiming{TickUs: 1000, LatencyMinMs: 6, LatencyTailMs: 1, SyncMs: 1}},
	{name: "fast-network", desc: "ablation: the paper's procedure on a 0.3 ms network with 0.5 ms disks (broadcast ≈ 1.1 ms)",
		timing: sim.ElectionTiming{TickUs: 100, LatencyMinMs: 0.2, LatencyTailMs: 0.1, SyncMs: 0.5}},
}

// capMs ends a trial without a leader: its downtime is reported as capMs
// (censored).
const capMs = 30_000

type result struct {
	v     variant
	s     span
	trial int
	seed  uint64
	r     sim.ElectionResult
}

func runMain(args []string, stdout, stderr io.Writer) error {
	fs := run.NewFlags("raft-fig16", stderr, "directory for the data, plots and results.md", "trials run at once (0: one per core)")
	out, jobs := fs.Out, fs.Jobs
	scale := fs.Float64("scale", 1, "fraction of the paper's trial counts to run (at least 2 per line)")
	only := fs.String("variants", "", "comma-separated variants to run (default all: "+names()+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scale <= 0 || *scale > 1 {
		return fmt.Errorf("-scale %g: want a fraction in (0, 1]", *scale)
	}
	vs := variants
	if *only != "" {
		vs = nil
		for _, n := range strings.Split(*only, ",") {
			i := slices.IndexFunc(variants, func(v variant) bool { return v.name == n })
			if i < 0 {
				return fmt.Errorf("unknown variant %q (want one of %s)", n, names())
			}
			vs = append(vs, variants[i])
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var todo []result
	for _, v := range vs {
		for si, s := range spans {
			f := *scale
			if !v.main {
				f /= 4
			}
			n := max(2, int(math.Round(float64(s.trials())*f)))
			for t := range n {
				todo = append(todo, result{v: v, s: s, trial: t, seed: uint64(si+1)*1_000_000 + uint64(t) + 1})
			}
		}
	}
	bar := run.NewBar(stderr, "raft-fig16", int64(len(todo)))
	err := run.Parallel(len(todo), *jobs, bar, func(i int) error {
		t := &todo[i]
		r, err := sim.ElectionAfterCrash(sim.ElectionTrial{Seed: t.seed, MinMs: t.s.minMs, MaxMs: t.s.maxMs,
			PreVote: t.v.preVote, CheckQuorum: t.v.checkQuorum, Timing: t.v.timing, CapMs: capMs, EqualLogs: t.v.equalLogs})
		if err != nil {
			return fmt.Errorf("%s %v seed %d: %w", t.v.name, t.s, t.seed, err)
		}
		t.r = r
		return nil
	})
	bar.Done()
	if err != nil {
		return err
	}
	if err := writeTrials(filepath.Join(*out, "trials.csv"), todo); err != nil {
		return err
	}
	stats := summarize(vs, todo)
	if err := writeSummary(filepath.Join(*out, "summary.csv"), stats); err != nil {
		return err
	}
	for _, v := range vs {
		if !v.main {
			continue
		}
		if err := plotVariant(filepath.Join(*out, "fig16-"+v.name), v, todo); err != nil {
			return err
		}
	}
	md := resultsMarkdown(vs, stats)
	return run.WriteResults(*out, md, stdout)
}

func names() string {
	var n []string
	for _, v := range variants {
		n = append(n, v.name)
	}
	return strings.Join(n, ", ")
}

func writeTrials(path string, rs []result) error {
	var rows [][]string
	for _, t := range rs {
		if !t.v.main {
			continue
		}
		rows = append(rows, []string{t.v.name, ftoa(t.s.minMs), ftoa(t.s.maxMs), strconv.Itoa(t.trial),
			strconv.FormatUint(t.seed, 10), strconv.FormatFloat(t.r.DowntimeMs, 'f', 3, 64),
			strconv.FormatBool(t.r.Elected), strconv.Itoa(t.r.Terms), strconv.Itoa(t.r.Retries)})
	}
	return run.WriteCSV(path, []string{"variant", "timeout_min_ms", "timeout_max_ms", "trial", "seed",
		"downtime_ms", "elected", "terms", "setups_redone"}, rows)
}

// stat summarizes one line of one variant.
type stat struct {
	v                      variant
	s                      span
	n, censored            int
	median, mean, p99, max float64
	split                  float64 // share of trials that took more than one term
	over10s                float64 // share of trials without a leader for more than 10 s
	meanTerms              float64
	retries                int // setups redone: the leader was deposed before the crash
}

func summarize(vs []variant, rs []result) []stat {
	var out []stat
	for _, v := range vs {
		for _, s := range spans {
			st := stat{v: v, s: s}
			var d []float64
			terms := 0
			for _, t := range rs {
				if t.v.name != v.name || t.s != s {
					continue
				}
				d = append(d, t.r.DowntimeMs)
				if !t.r.Elected {
					st.censored++
				}
				if t.r.Terms > 1 {
					st.split++
				}
				if t.r.DowntimeMs > 10_000 {
					st.over10s++
				}
				terms += t.r.Terms
				st.retries += t.r.Retries
			}
			if len(d) == 0 {
				continue
			}
			slices.Sort(d)
			st.n = len(d)
			st.median = quantile(d, 0.5)
			st.p99 = quantile(d, 0.99)
			st.max = d[len(d)-1]
			for _, x := range d {
				st.mean += x
			}
			st.mean /= float64(st.n)
			st.split /= float64(st.n)
			st.over10s /= float64(st.n)
			st.meanTerms = float64(terms) / float64(st.n-st.censored+boolInt(st.n == st.censored))
			out = append(out, st)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// quantile of sorted d (nearest rank).
func quantile(d []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func writeSummary(path string, stats []stat) error {
	var rows [][]string
	for _, st := range stats {
		rows = append(rows, []string{st.v.name, ftoa(st.s.minMs), ftoa(st.s.maxMs), strconv.Itoa(st.n),
			strconv.Itoa(st.censored), f1(st.median), f1(st.mean), f1(st.p99), f1(st.max),
			strconv.FormatFloat(st.split, 'f', 3, 64), strconv.FormatFloat(st.over10s, 'f', 3, 64),
			strconv.FormatFloat(st.meanTerms, 'f', 2, 64), strconv.Itoa(st.retries)})
	}
	return run.WriteCSV(path, []string{"variant", "timeout_min_ms", "timeout_max_ms", "trials", "censored",
		"median_ms", "mean_ms", "p99_ms", "max_ms", "split_vote_share", "over_10s_share", "mean_terms",
		"setups_redone"}, rows)
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
func f1(x float64) string   { return strconv.FormatFloat(x, 'f', 1, 64) }

func find(stats []stat, v string, minMs, maxMs float64) (stat, bool) {
	for _, st := range stats {
		if st.v.name == v && st.s.minMs == minMs && st.s.maxMs == maxMs {
			return st, true
		}
	}
	return stat{}, false
}

// resultsMarkdown is the comparison with the paper's numbers and the
// summary of every line.
func resultsMarkdown(vs []variant, stats []stat) string {
	var b strings.Builder
	b.WriteString("<!-- generated by go run ./papers/raft-fig16; do not edit -->\n\n")
	b.WriteString("| the paper's figure | paper |")
	for _, v := range vs {
		fmt.Fprintf(&b, " %s |", v.name)
	}
	b.WriteString("\n|---|---|")
	for range vs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(label, paper string, minMs, maxMs float64, f func(stat) string) {
		fmt.Fprintf(&b, "| %s | %s |", label, paper)
		for _, v := range vs {
			if st, ok := find(stats, v.name, minMs, maxMs); ok {
				fmt.Fprintf(&b, " %s |", f(st))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	ms := func(x float64) string {
		if x >= capMs {
			return fmt.Sprintf("> %g s", capMs/1000.0)
		}
		if x >= 10_000 {
			return fmt.Sprintf("%.1f s", x/1000)
		}
		return fmt.Sprintf("%.0f ms", x)
	}
	row("150–150 ms: median", "> 10 s", 150, 150, func(s stat) string { return ms(s.median) })
	row("150–150 ms: trials over 10 s", "all (\"consistently\")", 150, 150, func(s stat) string {
		return fmt.Sprintf("%.0f%%", 100*s.over10s)
	})
	row("150–155 ms: median", "287 ms", 150, 155, func(s stat) string { return ms(s.median) })
	row("150–200 ms: worst", "513 ms", 150, 200, func(s stat) string { return ms(s.max) })
	row("12–24 ms: mean", "35 ms", 12, 24, func(s stat) string { return ms(s.mean) })
	row("12–24 ms: worst", "152 ms", 12, 24, func(s stat) string { return ms(s.max) })
	row("150–300 ms: median", "not stated", 150, 300, func(s stat) string { return ms(s.median) })
	b.WriteString("\nEvery line (times without a leader; split votes: trials that took more than one term;\ncensored: no leader within 30 s):\n\n")
	b.WriteString("| variant | timeouts | trials | median | mean | p99 | worst | split votes | mean terms | censored |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range stats {
		fmt.Fprintf(&b, "| %s | %v | %d | %s | %s | %s | %s | %.0f%% | %.2f | %d |\n", st.v.name, st.s, st.n,
			ms(st.median), ms(st.mean), ms(st.p99), ms(st.max), 100*st.split, st.meanTerms, st.censored)
	}
	b.WriteString("\nVariants:\n\n")
	for _, v := range vs {
		fmt.Fprintf(&b, "- `%s`: %s; one-way latency %g ms + exp(%g ms), disk %g ms, tick %d µs.\n", v.name, v.desc,
			v.timing.LatencyMinMs, v.timing.LatencyTailMs, v.timing.SyncMs, v.timing.TickUs)
	}
	return b.String()
}

// plotVariant draws the figure of one variant: the top graph (randomness)
// above the bottom one (scale), cumulative percent of trials against the
// time without a leader on a log scale, as the paper draws them.
func plotVariant(base string, v variant, rs []result) error {
	top, err := cdfPlot(fmt.Sprintf("%s: randomness of the election timeout", v.name), v, rs, func(s span) bool { return s.top })
	if err != nil {
		return err
	}
	bottom, err := cdfPlot(fmt.Sprintf("%s: scale of the election timeout", v.name), v, rs, func(s span) bool { return s.bottom })
	if err != nil {
		return err
	}
	return run.SavePlots(base, 7*vg.Inch, 8*vg.Inch, [][]*plot.Plot{{top}, {bottom}})
}

func cdfPlot(title string, v variant, rs []result, in func(span) bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time without leader (ms)"
	p.Y.Label.Text = "cumulative percent"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = 10, capMs
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter * 2
	p.Legend.YOffs = vg.Millimeter * 2
	i := 0
	for _, s := range spans {
		if !in(s) {
			continue
		}
		var d []float64
		for _, t := range rs {
			if t.v.name == v.name && t.s == s {
				d = append(d, t.r.DowntimeMs)
			}
		}
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		var xys plotter.XYs
		for k, x := range d {
			x = max(x, p.X.Min)
			xys = append(xys, plotter.XY{X: x, Y: 100 * float64(k) / float64(len(d))},
				plotter.XY{X: x, Y: 100 * float64(k+1) / float64(len(d))})
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(s.String(), l)
		i++
	}
	if i == 0 {
		return nil, errors.New("no lines to plot")
	}
	p.Legend.Padding = vg.Millimeter
	p.Legend.ThumbnailWidth = vg.Centimeter
	p.Legend.TextStyle.Color = color.Black
	return p, nil
}
