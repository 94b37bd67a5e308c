package sim

import (
	"testing"
	"time"

	"github.com/raftkv/raftkv/linearizability"
)

// TestHardHistoriesDecided runs swarm seeds whose histories Porcupine
// alone could not decide within the swarm's 30s limit (seed 1: 70 writes
// of unknown outcome on one key; seed 58: 491 on five keys, its cluster
// down much of the time), at full length: their checks must end ok, in a
// small fraction of the limit. If the simulator changes so that these
// seeds no longer produce such histories, the test still passes;
// linearizability's TestKnownHardHistory keeps seed 1's history as it was.
func TestHardHistoriesDecided(t *testing.T) {
	for _, seed := range []uint64{1, 58} {
		o, err := MakeOptions("swarm", seed, false, "")
		if err != nil {
			t.Fatal(err)
		}
		r := Run(Config{Seed: seed, Options: o, HTMLDir: t.TempDir(), CheckTimeout: time.Minute})
		if r.Failure != nil {
			t.Fatal(describe(r))
		}
		if r.Verdict != linearizability.VerdictOK {
			t.Errorf("seed %d: Porcupine says %v after %v, want ok\n  replay: %s", seed, r.Verdict, time.Duration(r.CheckNs), r.Replay())
		}
		if d := time.Duration(r.CheckNs); d > 5*time.Second {
			t.Errorf("seed %d: the check took %v; it should take milliseconds", seed, d)
		}
	}
}
