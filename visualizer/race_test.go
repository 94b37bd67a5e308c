//go:build race

package visualizer

// Under the race detector the simulator runs several times slower: the
// browser test's large trace is shorter there (the load time is measured
// without -race, on the full 60 simulated seconds).
const largeSafetyMs = 15_000
