// Command raftkv-nemesis runs real raftkv members, each in a network
// namespace of its own, under partitions (iptables), crashes (SIGKILL),
// pauses (SIGSTOP) and message delay and loss, with concurrent HTTP
// clients whose history Porcupine checks. It needs root (ip netns,
// iptables). See internal/nemesis and the README's "Nemesis" section.
//
//	raftkv-nemesis [-seed N] [-runs N] [-duration 60s] [-members 5] [-clients 6] [-locks 3] [-faults all] [-compose 0.5]
//
// Each run prints its faults as they happen and a summary table; several
// runs end with the totals. The exit code is 0 if every run's verdict was
// ok, 1 if any was not or a run could not be made, 2 on bad flags or when
// no run could be made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/internal/nemesis"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("raftkv-nemesis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "seed of the first run (0: from the clock); run i uses seed+i")
	runs := fs.Int("runs", 1, "number of runs, one after another")
	duration := fs.Duration("duration", 60*time.Second, "how long each run injects faults")
	members := fs.Int("members", 5, "cluster size: 3 or 5")
	clients := fs.Int("clients", 6, "concurrent KV clients")
	locks := fs.Int("locks", 3, "clients of the lock workload (0: none)")
	faults := fs.String("faults", "all", "comma-separated faults to draw from, or all")
	compose := fs.Float64("compose", 0, "share (0 to 1) of faults with message delay or loss layered on them")
	bin := fs.String("bin", "", "the raftkv binary (default: go build ./cmd/raftkv)")
	keep := fs.Bool("keep", false, "keep the members' data dirs and logs of runs that passed too")
	quiet := fs.Bool("q", false, "print only each run's verdict line and the totals")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "raftkv-nemesis: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *members != 3 && *members != 5 {
		fmt.Fprintf(stderr, "raftkv-nemesis: -members %d: 3 or 5\n", *members)
		return 2
	}
	if *compose < 0 || *compose > 1 {
		fmt.Fprintf(stderr, "raftkv-nemesis: -compose %v: a share between 0 and 1\n", *compose)
		return 2
	}
	if *runs < 1 || *duration <= 0 || *clients < 1 || *locks < 0 {
		fmt.Fprintln(stderr, "raftkv-nemesis: -runs, -duration and -clients must be positive, -locks not negative")
		return 2
	}
	if *locks == 0 {
		*locks = -1 // Options: -1 is none
	}
	kinds, err := nemesis.ParseFaults(*faults)
	if err != nil {
		fmt.Fprintf(stderr, "raftkv-nemesis: -faults: %v\n", err)
		return 2
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := nemesis.Available(ctx); err != nil {
		fmt.Fprintf(stderr, "raftkv-nemesis: %v\n", err)
		return 2
	}
	if *bin == "" {
		if *bin, err = nemesis.Build(""); err != nil {
			fmt.Fprintf(stderr, "raftkv-nemesis: %v\n", err)
			return 2
		}
		defer os.RemoveAll(filepath.Dir(*bin))
	}
	var totals nemesis.Totals
	for i := range *runs {
		if ctx.Err() != nil {
			break
		}
		s := *seed + uint64(i)
		opts := nemesis.Options{
			Bin: *bin, Seed: s, Duration: *duration, Members: *members, Clients: *clients,
			Faults: kinds, Keep: *keep, Log: stdout, Locks: *locks, Compose: *compose,
		}
		if *quiet {
			opts.Log = io.Discard
		} else {
			fmt.Fprintf(stdout, "=== run %d/%d, seed %d\n", i+1, *runs, s)
		}
		res, err := nemesis.Run(ctx, opts)
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				break
			}
			// A run that could not be made (or heal) is no verdict; a
			// batch goes on and counts it.
			fmt.Fprintf(stderr, "raftkv-nemesis: run %d (seed %d): %v\n", i+1, s, err)
			totals.Errors = append(totals.Errors, fmt.Sprintf("seed %d: %v", s, err))
			continue
		}
		totals.Add(res)
		if *quiet {
			fmt.Fprintf(stdout, "run %d/%d seed %d: %s; %d operations checked, %d faults, %d leader changes, %v%s\n",
				i+1, *runs, s, res.Verdict, res.Check.Operations, len(res.FaultLog), res.LeaderChanges,
				res.Took.Round(time.Second), why(res))
		} else {
			res.WriteSummary(stdout)
		}
	}
	if *runs > 1 || *quiet || len(totals.Errors) > 0 {
		totals.WriteSummary(stdout)
	}
	if len(totals.Errors) > 0 && totals.Runs == 0 {
		return 2
	}
	if totals.Runs == 0 || totals.Verdicts[nemesis.VerdictOK] != totals.Runs || len(totals.Errors) > 0 {
		return 1
	}
	return 0
}

func why(r *nemesis.Result) string {
	if r.Why == "" {
		return ""
	}
	return " (" + r.Why + "; replay: " + r.Replay + ")"
}
