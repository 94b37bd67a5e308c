// Command raftkv-sim runs raftkv's deterministic simulator (package sim).
//
//	raftkv-sim -seed N [-preset P] [-short] [-trace run.jsonl]
//	raftkv-sim -swarm -seeds 1000 [-first 1] [-preset P] [-short] [-j 0]
//	raftkv-sim -bench reads|catchup [-keys 1000000]
//	raftkv-sim -seed N -visualize [-trace run.jsonl] [-addr 127.0.0.1:0]
//	raftkv-sim -serve run.jsonl [-addr 127.0.0.1:0]
//
// One seed prints a summary (and the replay command on failure); a swarm
// runs many seeds on all cores with a progress bar and ends with a summary
// table. -visualize runs the seed, then serves the visualizer (package
// visualizer) for it on loopback with Porcupine's HTML of the same run, and
// prints the URL; -serve serves a saved trace (and run.porcupine.html
// beside it, if there is one). Both serve until interrupted. -bench prints
// a table: reads compares reads per simulated second through ReadIndex,
// from the leader's lease and through the log on a 3-member cluster;
// catchup times a new member catching up with a -keys key space by
// InstallSnapshot over links of 100 Mbit/s and 1 Gbit/s, for three chunk
// sizes. Exit codes: 0 every run passed, 1 usage or I/O error, 2 a safety
// failure, 3 a liveness failure, 4 a crash (panic or storage failure). When
// several classes failed the most severe wins: safety, then crash, then
// liveness.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/raftkv/raftkv/sim"
)

const (
	exitOK       = 0
	exitUsage    = 1
	exitSafety   = 2
	exitLiveness = 3
	exitCrash    = 4
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("raftkv-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of the run (with -swarm: ignored, see -first)")
	preset := fs.String("preset", "swarm", "option preset: "+strings.Join(sim.Presets, ", ")+` ("swarm" draws the options from the seed)`)
	short := fs.Bool("short", false, "shorten the safety phase to 4 simulated seconds")
	tracePath := fs.String("trace", "", "write the run's JSON Lines trace to this file (single seed)")
	htmlDir := fs.String("html-dir", ".", "directory for Porcupine's HTML when a history is not linearizable")
	swarm := fs.Bool("swarm", false, "run many seeds in parallel")
	seeds := fs.Int("seeds", 1000, "with -swarm: how many seeds")
	first := fs.Uint64("first", 1, "with -swarm: the first seed")
	workers := fs.Int("j", 0, "with -swarm: runs in parallel (0: all cores)")
	quiet := fs.Bool("quiet", false, "with -swarm: no progress bar")
	visualize := fs.Bool("visualize", false, "run the seed, then serve the visualizer for it on loopback and print its URL")
	serveTrace := fs.String("serve", "", "serve the visualizer for this saved trace on loopback and print its URL (no run)")
	addr := fs.String("addr", "127.0.0.1:0", "with -visualize or -serve: the loopback address to serve on")
	bench := fs.String("bench", "", "run a benchmark instead: reads (ReadIndex, lease and log reads) or catchup (a new member and a large snapshot)")
	benchKeys := fs.Int("keys", 1_000_000, "with -bench catchup: keys in the cluster's key space")
	// Hidden: plants a known bug so the checkers can be seen to fire.
	bug := fs.String("bug", "", "")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: raftkv-sim -seed N [flags] | raftkv-sim -swarm -seeds N [flags]")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "bug" {
				fmt.Fprintf(stderr, "  -%s\t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *serveTrace != "" {
		return serveSaved(stdout, stderr, *serveTrace, *addr)
	}
	if *bench != "" {
		return runBench(stdout, stderr, *bench, *benchKeys)
	}
	if *swarm && *visualize {
		fmt.Fprintln(stderr, "raftkv-sim: -visualize shows one seed; it does not go with -swarm")
		return exitUsage
	}
	if *swarm {
		return runSwarm(stdout, stderr, sim.SwarmConfig{
			Preset: *preset, Short: *short, Bug: *bug, Workers: *workers, HTMLDir: *htmlDir,
			Seeds: seedRange(*first, *seeds),
		}, *quiet)
	}
	o, err := sim.MakeOptions(*preset, *seed, *short, *bug)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	cfg := sim.Config{Seed: *seed, Options: o, HTMLDir: *htmlDir}
	if *visualize {
		if *tracePath == "" {
			dir, err := os.MkdirTemp("", "raftkv-sim-")
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitUsage
			}
			defer os.RemoveAll(dir)
			*tracePath = filepath.Join(dir, fmt.Sprintf("seed-%d.jsonl", *seed))
		}
		cfg.PorcupineHTML = porcupinePath(*tracePath)
	}
	var traceFile *os.File
	if *tracePath != "" {
		traceFile, err = os.Create(*tracePath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		cfg.Trace = traceFile
	}
	start := time.Now()
	r := sim.Run(cfg)
	wall := time.Since(start)
	if traceFile != nil {
		if err := traceFile.Close(); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	fmt.Fprintf(stdout, "seed %d (preset %s): %d members, %d clients, %s simulated in %s\n",
		r.Seed, o.Preset, o.Members, o.Clients, time.Duration(r.SimulatedNs), wall.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  events %d, messages %d, faults %d, operations %d (answered %d, checked %d, porcupine %v)\n",
		r.Events, r.Messages, r.Faults, r.Ops, r.Acked, r.Checked, r.Verdict)
	fmt.Fprintf(stdout, "  ReadIndex reads %d, membership changes %d, snapshots taken %d, installed %d, verified %d, stepdowns %d (%d timed out)\n",
		r.Reads, r.ConfChanges, r.SnapshotsTaken, r.SnapshotsSent, r.StatesChecked, r.Stepdowns, r.StepdownsTimedOut)
	if *tracePath != "" {
		fmt.Fprintf(stdout, "  trace written to %s\n", *tracePath)
	}
	code := exitOK
	if r.Failure == nil {
		fmt.Fprintln(stdout, "  ok")
	} else {
		reportFailure(stdout, r)
		code = exitCode(r.Failure.Class)
	}
	if *visualize {
		if err := serveRun(stdout, *tracePath, r.HTMLPath, *addr); err != nil {
			fmt.Fprintln(stderr, "raftkv-sim:", err)
			return exitUsage
		}
	}
	return code
}

func seedRange(first uint64, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = first + uint64(i)
	}
	return s
}

func reportFailure(w io.Writer, r sim.Result) {
	fmt.Fprintf(w, "FAIL seed %d: %v\n", r.Seed, r.Failure)
	if r.HTMLPath != "" {
		p, _ := filepath.Abs(r.HTMLPath)
		fmt.Fprintf(w, "  porcupine visualization: %s\n", p)
	}
	fmt.Fprintf(w, "  replay: %s\n", r.Replay())
	fmt.Fprintf(w, "  trace:  %s -trace seed-%d.jsonl\n", r.Replay(), r.Seed)
}

func exitCode(c sim.Class) int {
	switch c {
	case sim.ClassSafety:
		return exitSafety
	case sim.ClassLiveness:
		return exitLiveness
	default:
		return exitCrash
	}
}

func runSwarm(stdout, stderr io.Writer, sc sim.SwarmConfig, quiet bool) int {
	if len(sc.Seeds) == 0 {
		fmt.Fprintln(stderr, "raftkv-sim: -seeds must be positive")
		return exitUsage
	}
	bar := progressbar.NewOptions(len(sc.Seeds),
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("seeds"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetVisibility(!quiet),
	)
	failed := 0
	sc.Done = func(r sim.Result) {
		if r.Failure != nil {
			failed++
			bar.Describe(fmt.Sprintf("seeds (%d failed)", failed))
		}
		_ = bar.Add(1)
	}
	start := time.Now()
	rs, err := sim.Swarm(sc)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	_ = bar.Finish()
	fmt.Fprintln(stderr)
	wall := time.Since(start)
	s := sim.Summarize(rs)
	workers := sc.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\t\n", k, v) }
	row("preset", sc.Preset)
	row("seeds", s.Seeds)
	row("workers", workers)
	row("wall time", wall.Round(time.Millisecond))
	row("simulated time", time.Duration(s.SimulatedNs).Round(time.Millisecond))
	row("events", s.Events)
	row("messages", s.Messages)
	row("faults injected", s.Faults)
	row("operations checked", s.Checked)
	row("ReadIndex reads", s.Reads)
	row("membership changes", s.ConfChanges)
	row("snapshots taken / installed", fmt.Sprintf("%d / %d", s.SnapshotsTaken, s.SnapshotsSent))
	row("snapshot states verified", s.StatesChecked)
	row("graceful stepdowns (timed out)", fmt.Sprintf("%d (%d)", s.Stepdowns, s.StepdownsTimedOut))
	row("porcupine unknown (timed out)", s.Unknown)
	for _, c := range []sim.Class{sim.ClassSafety, sim.ClassLiveness, sim.ClassCrash} {
		row(string(c)+" failures", len(s.Failures[c]))
	}
	tw.Flush()
	code := exitOK
	for _, c := range []sim.Class{sim.ClassLiveness, sim.ClassCrash, sim.ClassSafety} {
		if fs := s.Failures[c]; len(fs) > 0 {
			code = exitCode(c)
			fmt.Fprintf(stdout, "\n%s failures:\n", c)
			for i, r := range fs {
				if i == 10 {
					fmt.Fprintf(stdout, "  ... and %d more\n", len(fs)-10)
					break
				}
				reportFailure(stdout, r)
			}
		}
	}
	return code
}
