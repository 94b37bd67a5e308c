//go:build !race

package visualizer

// largeSafetyMs is the safety phase of the browser test's large trace: 60
// simulated seconds of faults on 5 members.
const largeSafetyMs = 60_000
