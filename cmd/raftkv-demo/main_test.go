package main

import "testing"

// The demonstration must complete its story (two elections, a crash and a
// catch-up ending with identical logs) whatever the seed.
func TestDemoCompletesForManySeeds(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		if err := run(seed); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}
