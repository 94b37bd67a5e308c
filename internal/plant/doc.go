// Package plant switches planted bugs on: deliberate defects in the
// consensus core (package raft) and the node core (package server/node)
// that exist only so that a test can prove a checker live. A checker that
// has never failed proves nothing; each planted bug breaks one property
// (election safety, leader completeness, durability, linearizability, one
// membership change at a time, snapshots that lose nothing), and the
// simulator's swarm and raft's property tests must catch it.
//
// A bug set is a plain struct (Raft, Node) whose zero value plants
// nothing. It is attached to a configuration without an exported field:
//
//	var cfg raft.Config // or a node.Config with plant.Node
//	plant.Raft{CommitOldTerm: true}.Plant(&cfg)
//
// raft.Config and node.Config hold their set in an unexported field, and
// packages raft and node hand this package, at init, the function that
// sets it (this package cannot import them: they import it). Plant panics
// when given any other configuration type. Because the package is
// internal, only this module can switch bugs on, and a production
// configuration has no way to name them.
//
// The simulator plants a set by name (sim.Bugs, the -bug flag of
// raftkv-sim); tests plant them directly with Plant.
package plant
