package sim

import (
	"runtime"
	"sync"
	"time"

	"github.com/raftkv/raftkv/linearizability"
)

// SwarmConfig runs many seeds of one preset.
type SwarmConfig struct {
	Preset string
	// Seeds are run in order of completion, not of seed; each run is
	// independent and deterministic whatever the parallelism.
	Seeds []uint64
	Short bool
	Bug   string
	// Workers bounds the runs in parallel (0: GOMAXPROCS).
	Workers      int
	HTMLDir      string
	CheckTimeout time.Duration
	// Done, if set, is called after each run, from one goroutine at a time.
	Done func(Result)
	// StopAtFirstFailure stops handing out seeds once a run failed.
	StopAtFirstFailure bool
}

// Swarm runs every seed and returns the results in seed order (runs not
// started because of StopAtFirstFailure are left out).
func Swarm(sc SwarmConfig) ([]Result, error) {
	workers := sc.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	opts := make([]Options, len(sc.Seeds))
	for i, seed := range sc.Seeds {
		o, err := MakeOptions(sc.Preset, seed, sc.Short, sc.Bug)
		if err != nil {
			return nil, err
		}
		opts[i] = o
	}
	results := make([]Result, len(sc.Seeds))
	ran := make([]bool, len(sc.Seeds))
	var mu sync.Mutex
	next, stop := 0, false
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(sc.Seeds) || stop {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				r := Run(Config{Seed: sc.Seeds[i], Options: opts[i], HTMLDir: sc.HTMLDir, CheckTimeout: sc.CheckTimeout})
				mu.Lock()
				results[i], ran[i] = r, true
				if r.Failure != nil && sc.StopAtFirstFailure {
					stop = true
				}
				if sc.Done != nil {
					sc.Done(r)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	out := results[:0]
	for i, r := range results {
		if ran[i] {
			out = append(out, r)
		}
	}
	return out, nil
}

// Summary aggregates the results of a swarm.
type Summary struct {
	Seeds                int
	SimulatedNs          int64
	Events, Messages     int64
	Faults, Ops, Checked int
	Unknown              int // Porcupine ran out of time (not a failure)
	// Verdicts counts the runs by Porcupine verdict (runs that failed
	// before the check have none and are not counted).
	Verdicts map[linearizability.Verdict]int
	// SlowestCheckNs is the longest Porcupine check (wall clock), in the
	// run of seed SlowestCheckSeed.
	SlowestCheckNs   int64
	SlowestCheckSeed uint64
	Exercised
	// Failures are the failed runs by class, in seed order.
	Failures map[Class][]Result
}

// Summarize adds up results.
func Summarize(rs []Result) Summary {
	s := Summary{Failures: map[Class][]Result{}, Verdicts: map[linearizability.Verdict]int{}}
	for _, r := range rs {
		s.Seeds++
		s.SimulatedNs += r.SimulatedNs
		s.Events += r.Events
		s.Messages += r.Messages
		s.Faults += r.Faults
		s.Ops += r.Ops
		s.Checked += r.Checked
		s.Exercised.add(r.Exercised)
		if r.Verdict == linearizability.VerdictUnknown {
			s.Unknown++
		}
		if r.Verdict != 0 {
			s.Verdicts[r.Verdict]++
		}
		if r.CheckNs > s.SlowestCheckNs {
			s.SlowestCheckNs, s.SlowestCheckSeed = r.CheckNs, r.Seed
		}
		if f := r.Failure; f != nil {
			s.Failures[f.Class] = append(s.Failures[f.Class], r)
		}
	}
	return s
}
