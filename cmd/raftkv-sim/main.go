// Command raftkv-sim runs raftkv's deterministic simulator (package sim).
//
//	raftkv-sim -seed N [-preset P] [-short] [-trace run.jsonl]
//	raftkv-sim -swarm -seeds 1000 [-first 1] [-preset P] [-short] [-j 0]
//	raftkv-sim -bench reads|catchup [-keys 1000000]
//	raftkv-sim -seed N -visualize [-trace run.jsonl] [-addr 127.0.0.1:0]
//	raftkv-sim -serve run.jsonl [-addr 127.0.0.1:0]
//	raftkv-sim -live [-site DIR] [-addr 127.0.0.1:0]
//	raftkv-sim -replay session.jsonl [-trace replayed.jsonl]
//
// One seed prints a summary (and the replay command on failure); a swarm
// runs many seeds on all cores with a progress bar and ends with a summary
// table. -visualize runs the seed, then serves the visualizer (package
// visualizer) for it on loopback with Porcupine's HTML of the same run, and
// prints the URL; -serve serves a saved trace (and run.porcupine.html
// beside it, if there is one). Both serve until interrupted. -trace
// run.jsonl writes Porcupine's HTML of the run beside the trace, as
// run.porcupine.html, whatever the verdict; without -trace the HTML of a
// history that is not linearizable goes to -html-dir, by default the
// system's temporary directory, never the working directory. -bench prints
// a table: reads compares reads per simulated second through ReadIndex,
// from the leader's lease and through the log on a 3-member cluster;
// catchup times a new member catching up with a -keys key space by
// InstallSnapshot over links of 100 Mbit/s and 1 Gbit/s, for three chunk
// sizes. -live serves the visualizer with the simulator compiled to
// WebAssembly running in the page (the live simulator; the wasm is built
// with the go command at start, or taken from -site, a folder made by make
// site); -replay replays a live session exported from that page (its seed,
// options and inputs), writes the replay to -trace if given, and says
// whether it is the exported trace byte for byte (exit 1 if not). Exit
// codes: 0 every run passed, 1 usage or I/O error, 2 a safety failure, 3 a
// liveness failure, 4 a crash (panic or storage failure). When several
// classes failed the most severe wins: safety, then crash, then liveness.
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

	"github.com/raftkv/raftkv/linearizability"
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

// flags is raftkv-sim's command line.
type flags struct {
	seed       uint64
	preset     string
	short      bool
	tracePath  string
	htmlDir    string
	swarm      bool
	seeds      int
	first      uint64
	workers    int
	quiet      bool
	visualize  bool
	serveTrace string
	addr       string
	bench      string
	benchKeys  int
	bug        string
	live       bool
	site       string
	replay     string
}

// run is the whole command: parse the flags, do what they ask and return
// the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return exitUsage
	}
	switch {
	case f.serveTrace != "":
		return serveSaved(stdout, stderr, f.serveTrace, f.addr)
	case f.live:
		return serveLive(stdout, stderr, f.site, f.addr)
	case f.replay != "":
		return runReplay(stdout, stderr, f.replay, f.tracePath)
	case f.bench != "":
		return runBench(stdout, stderr, f.bench, f.benchKeys)
	case f.swarm && f.visualize:
		fmt.Fprintln(stderr, "raftkv-sim: -visualize shows one seed; it does not go with -swarm")
		return exitUsage
	case f.swarm:
		return runSwarm(stdout, stderr, sim.SwarmConfig{
			Preset: f.preset, Short: f.short, Bug: f.bug, Workers: f.workers, HTMLDir: f.htmlDir,
			Seeds: seedRange(f.first, f.seeds),
		}, f.quiet)
	default:
		return runSeed(stdout, stderr, f)
	}
}

// parseFlags parses args; on an error (or -h) the flag package has already
// said why on stderr.
func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("raftkv-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the run (with -swarm: ignored, see -first)")
	fs.StringVar(&f.preset, "preset", "swarm", "option preset: "+strings.Join(sim.Presets, ", ")+` ("swarm" draws the options from the seed)`)
	fs.BoolVar(&f.short, "short", false, "shorten the safety phase to 4 simulated seconds")
	fs.StringVar(&f.tracePath, "trace", "", "write the run's JSON Lines trace to this file (single seed), and Porcupine's HTML beside it: run.jsonl, run.porcupine.html")
	fs.StringVar(&f.htmlDir, "html-dir", "", `without -trace: directory for Porcupine's HTML when a history is not linearizable or its check timed out ("": the system's temporary directory)`)
	fs.BoolVar(&f.swarm, "swarm", false, "run many seeds in parallel")
	fs.IntVar(&f.seeds, "seeds", 1000, "with -swarm: how many seeds")
	fs.Uint64Var(&f.first, "first", 1, "with -swarm: the first seed")
	fs.IntVar(&f.workers, "j", 0, "with -swarm: runs in parallel (0: all cores)")
	fs.BoolVar(&f.quiet, "quiet", false, "with -swarm: no progress bar")
	fs.BoolVar(&f.visualize, "visualize", false, "run the seed, then serve the visualizer for it on loopback and print its URL")
	fs.StringVar(&f.serveTrace, "serve", "", "serve the visualizer for this saved trace on loopback and print its URL (no run)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:0", "with -visualize or -serve: the loopback address to serve on")
	fs.StringVar(&f.bench, "bench", "", "run a benchmark instead: reads (ReadIndex, lease and log reads) or catchup (a new member and a large snapshot)")
	fs.IntVar(&f.benchKeys, "keys", 1_000_000, "with -bench catchup: keys in the cluster's key space")
	fs.BoolVar(&f.live, "live", false, "serve the live simulator (the visualizer running the simulator compiled to WebAssembly) on loopback and print its URL")
	fs.StringVar(&f.site, "site", "", "with -live: serve this folder built by make site (default: build the WebAssembly now with the go command)")
	fs.StringVar(&f.replay, "replay", "", "replay a live session exported from the live simulator's page, check that it gives the same trace byte for byte, and write it to -trace if given")
	// Hidden: plants a known bug so the checkers can be seen to fire.
	fs.StringVar(&f.bug, "bug", "", "")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: raftkv-sim -seed N [flags] | raftkv-sim -swarm -seeds N [flags]")
		fs.VisitAll(func(fl *flag.Flag) {
			if fl.Name != "bug" {
				fmt.Fprintf(stderr, "  -%s\t%s (default %q)\n", fl.Name, fl.Usage, fl.DefValue)
			}
		})
	}
	err := fs.Parse(args)
	return f, err
}

// runSeed runs one seed, prints its summary (and on failure how to replay
// it) and, with -visualize, then serves the visualizer for it.
func runSeed(stdout, stderr io.Writer, f flags) int {
	o, err := sim.MakeOptions(f.preset, f.seed, f.short, f.bug)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	tracePath := f.tracePath
	if f.visualize && tracePath == "" {
		// The visualizer needs a trace; keep it only while serving.
		dir, err := os.MkdirTemp("", "raftkv-sim-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		defer os.RemoveAll(dir)
		tracePath = filepath.Join(dir, fmt.Sprintf("seed-%d.jsonl", f.seed))
	}
	start := time.Now()
	r, err := runTraced(sim.Config{Seed: f.seed, Options: o, HTMLDir: f.htmlDir}, tracePath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	printSummary(stdout, r, time.Since(start), tracePath)
	code := exitOK
	if r.Failure == nil {
		fmt.Fprintln(stdout, "  ok")
	} else {
		reportFailure(stdout, r)
		code = exitCode(r.Failure.Class)
	}
	if f.visualize {
		if err := serveRun(stdout, tracePath, r.HTMLPath, f.addr); err != nil {
			fmt.Fprintln(stderr, "raftkv-sim:", err)
			return exitUsage
		}
	}
	return code
}

// runTraced runs cfg, writing its trace to tracePath and Porcupine's HTML
// beside it (whatever the verdict) when tracePath is not empty. The error
// is about the trace file; a failed run is in the Result.
func runTraced(cfg sim.Config, tracePath string) (sim.Result, error) {
	if tracePath == "" {
		return sim.Run(cfg), nil
	}
	f, err := os.Create(tracePath)
	if err != nil {
		return sim.Result{}, err
	}
	cfg.Trace = f
	cfg.PorcupineHTML = porcupinePath(tracePath)
	r := sim.Run(cfg)
	if err := f.Close(); err != nil {
		return sim.Result{}, err
	}
	return r, nil
}

// printSummary prints what one run did, in wall time wall.
func printSummary(w io.Writer, r sim.Result, wall time.Duration, tracePath string) {
	o := r.Options
	fmt.Fprintf(w, "seed %d (preset %s): %d members, %d clients, %s simulated in %s\n",
		r.Seed, o.Preset, o.Members, o.Clients, time.Duration(r.SimulatedNs), wall.Round(time.Millisecond))
	fmt.Fprintf(w, "  events %d, messages %d, faults %d, operations %d (answered %d, checked %d, porcupine %v)\n",
		r.Events, r.Messages, r.Faults, r.Ops, r.Acked, r.Checked, r.Verdict)
	fmt.Fprintf(w, "  ReadIndex reads %d, membership changes %d, snapshots taken %d, installed %d, verified %d, stepdowns %d (%d timed out)\n",
		r.Reads, r.ConfChanges, r.SnapshotsTaken, r.SnapshotsSent, r.StatesChecked, r.Stepdowns, r.StepdownsTimedOut)
	if tracePath != "" {
		fmt.Fprintf(w, "  trace written to %s\n", tracePath)
	}
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

// runSwarm runs a swarm with a progress bar on stderr, then prints the
// summary table and the first failures of each class.
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
	printSwarmTable(stdout, sc, s, wall)
	return reportSwarmFailures(stdout, s)
}

// printSwarmTable prints what a swarm did, one row per count.
func printSwarmTable(w io.Writer, sc sim.SwarmConfig, s sim.Summary, wall time.Duration) {
	workers := sc.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
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
	row("porcupine ok / illegal", fmt.Sprintf("%d / %d", s.Verdicts[linearizability.VerdictOK], s.Verdicts[linearizability.VerdictIllegal]))
	row("porcupine unknown (timed out)", s.Unknown)
	row("slowest porcupine check", fmt.Sprintf("%v (seed %d)", time.Duration(s.SlowestCheckNs).Round(time.Millisecond), s.SlowestCheckSeed))
	for _, c := range []sim.Class{sim.ClassSafety, sim.ClassLiveness, sim.ClassCrash} {
		row(string(c)+" failures", len(s.Failures[c]))
	}
	tw.Flush()
}

// reportSwarmFailures reports up to ten failures of each class, the most
// severe class last, and returns the exit code of the most severe.
func reportSwarmFailures(w io.Writer, s sim.Summary) int {
	code := exitOK
	for _, c := range []sim.Class{sim.ClassLiveness, sim.ClassCrash, sim.ClassSafety} {
		if fs := s.Failures[c]; len(fs) > 0 {
			code = exitCode(c)
			fmt.Fprintf(w, "\n%s failures:\n", c)
			for i, r := range fs {
				if i == 10 {
					fmt.Fprintf(w, "  ... and %d more\n", len(fs)-10)
					break
				}
				reportFailure(w, r)
			}
		}
	}
	return code
}
