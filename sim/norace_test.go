//go:build !race

package sim

// swarmSeeds is how many seeds of the swarm preset TestSwarm runs.
const swarmSeeds = 240
