// Package server is one raftkv member.
//
// Member (member.go) is the running server: one goroutine owns the node core
// and takes ticks, peer messages (rpc) and client work from channels,
// handling everything that has arrived before each Ready so that one fsync
// covers a batch; the HTTP API (http.go), the peer port's small HTTP API
// (peer.go: membership for joining members) and forwarding (forward.go:
// followers hand writes to the leader as app frames on the transport) talk
// to the loop through closures and wait on a published view of its state. Member
// records live in the key space under /_raftkv (membership.go).
//
// Its heart is the node core, package server/node: raft, durable storage
// and the key space driven synchronously, the same code the simulator
// runs. Everything in this package is the real-time layer around it.
package server
