package raft

import (
	"math/rand/v2"
	"testing"
)

// Config.ElectionTickMax sets the range the randomized election timeout is
// drawn from (§5.2 leaves it to the implementation; §9.3 of the extended
// paper measures ranges from 150–150 ms to 150–300 ms): every value of
// [ElectionTick, ElectionTickMax] is drawn and nothing outside it, and
// ElectionTickMax == ElectionTick turns the randomness off.
func TestElectionTickMaxRange(t *testing.T) {
	for _, tc := range []struct{ min, max int }{{10, 10}, {10, 11}, {10, 15}, {10, 40}} {
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage(), func(c *Config) { c.ElectionTickMax = tc.max })
		seen := map[int]bool{}
		for range 2000 {
			r.becomeFollower(r.Term+1, None)
			d := r.randomizedElectionTimeout
			if d < tc.min || d > tc.max {
				t.Fatalf("[%d, %d]: timeout %d outside the range", tc.min, tc.max, d)
			}
			seen[d] = true
		}
		if len(seen) != tc.max-tc.min+1 {
			t.Fatalf("[%d, %d]: %d distinct timeouts drawn", tc.min, tc.max, len(seen))
		}
	}
}

// ElectionTickMax 0 keeps the default [T, 2T) and draws the same timeouts
// from the same seed as before the option existed (the simulator's traces
// depend on it).
func TestElectionTickMaxZeroIsDefault(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	want := rand.New(rand.NewPCG(1, 1)) // newTestRaft's seed for id 1
	want.IntN(10)                       // newRaft's becomeFollower drew once
	for range 100 {
		r.becomeFollower(r.Term+1, None)
		if w := 10 + want.IntN(10); r.randomizedElectionTimeout != w {
			t.Fatalf("timeout %d, want %d", r.randomizedElectionTimeout, w)
		}
	}
}

func TestElectionTickMaxBelowElectionTickRefused(t *testing.T) {
	c := &Config{ID: 1, Peers: []uint64{1}, ElectionTick: 10, ElectionTickMax: 9, HeartbeatTick: 1,
		Storage: NewMemoryStorage(), Rand: rand.New(rand.NewPCG(1, 1))}
	if _, err := newRaft(c); err == nil {
		t.Fatal("ElectionTickMax below ElectionTick accepted")
	}
}
