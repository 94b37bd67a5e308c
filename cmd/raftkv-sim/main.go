// Command raftkv-sim runs the deterministic simulator: one seed, or a swarm
// of seeds in parallel. See package sim for what a run is.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/raftkv/raftkv/sim"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the run")
	preset := flag.String("preset", "swarm", "option preset")
	short := flag.Bool("short", false, "short safety phase")
	bug := flag.String("bug", "", "")
	tracePath := flag.String("trace", "", "write the JSON Lines trace here")
	flag.Parse()
	o, err := sim.MakeOptions(*preset, *seed, *short, *bug)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := sim.Config{Seed: *seed, Options: o}
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		cfg.Trace = f
	}
	start := time.Now()
	r := sim.Run(cfg)
	fmt.Printf("seed %d: %+v\nwall %v\n", *seed, r, time.Since(start))
	if r.Failure != nil {
		fmt.Println(r.Failure, "\n", r.Replay())
	}
}
