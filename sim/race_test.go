//go:build race

package sim

// Under the race detector a run is several times slower, and what the
// detector looks for (the swarm's goroutines sharing nothing but results)
// does not depend on how many seeds run: TestSwarm runs fewer of them
// there. Without -race it runs them all (norace_test.go).
const swarmSeeds = 140
