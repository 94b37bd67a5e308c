// Package raft implements the Raft consensus protocol (Ongaro and
// Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014, and
// Ongaro's PhD thesis, 2014) as a pure, deterministic state machine.
//
// The package has no goroutines, no clocks, no I/O and no global randomness.
// Time enters as Tick, messages from peers as Step, client commands as
// Propose; randomness (election timeouts) comes only from the *rand.Rand in
// Config. Given the same Config, seed and sequence of inputs, a member
// produces the same outputs: this is what lets the simulator replay a run
// from its seed.
//
// # What is implemented
//
//   - Leader election with randomized timeouts in [ElectionTick,
//     2*ElectionTick) ticks (or [ElectionTick, ElectionTickMax] when set);
//     RequestVote with the §5.4.1 up-to-date check.
//   - Pre-Vote (thesis §9.6): before incrementing its term a member asks
//     whether it could win; a member that cannot (partitioned, or behind)
//     never disturbs the cluster's term. On by default.
//   - CheckQuorum (thesis §6.2): a leader that has not heard from a majority
//     within an election timeout steps down, and a member that hears from a
//     leader ignores vote requests until an election timeout has passed
//     (thesis §4.2.3). On by default.
//   - Log replication with the AppendEntries consistency check and fast
//     backtracking: a follower that rejects an append returns the last index
//     at or below the leader's prevLogIndex whose term is no later than the
//     leader's prevLogTerm, so the leader skips a whole term per round trip.
//   - Commitment only by counting replicas of an entry of the leader's own
//     term (§5.4.2); every new leader appends an empty entry of its term so
//     earlier entries commit promptly.
//   - Per-follower progress (package tracker): Probe (one append at a time
//     while the match point is unknown), Replicate (streaming, bounded by
//     MaxInflightMsgs appends in flight), Snapshot (the follower needs
//     compacted entries and is sent the snapshot).
//   - Batching: proposals made between two Ready calls leave in one append
//     per follower (split by MaxSizePerMsg).
//
// Proposals on a member that does not lead fail with *NotLeaderError naming
// the leader it knows, so the server can forward them; a leader that is
// handing over leadership, or whose own removal is in its log, refuses them
// with ErrProposalDropped.
//
// # The caller's duties in each cycle
//
// A member is driven by one goroutine (in production the server's run
// loop, in simulation the simulator's event loop), which repeats:
//
//  1. Feed inputs: Tick on a fixed interval, Step for every message from a
//     peer, Propose for client commands.
//  2. If HasReady, take rd := Ready() and handle it in this order:
//     a. Persist: append rd.Entries to stable storage (an entry at an index
//     already held replaces it and every entry after it), save
//     rd.HardState if not empty, save rd.Snapshot if not empty. If
//     rd.MustSync, make all of this durable (fsync) before going on.
//     Then make the Storage handed to Config reflect it.
//     b. Send rd.Messages. Only now: a vote, or an acknowledgement of
//     entries, must never leave before what it promises is durable
//     ("persist before you speak"). The one exception is a leader's
//     appends (MsgApp), which may leave before its own write of the same
//     entries (thesis §10.2.1), so that the leader's disk write overlaps
//     the followers'; package server/node does this. It is safe because what
//     follows from a follower's acknowledgement (a commit, the messages
//     and applies it brings) comes out of a later Ready, handled after
//     this one is persisted.
//     c. Install rd.Snapshot in the state machine if not empty, then apply
//     rd.CommittedEntries in order. These may include entries of this
//     very Ready's rd.Entries, which is why persistence comes first: a
//     leader counts its own log toward a majority as soon as it appends,
//     and that is safe only because nothing is applied (or acknowledged to
//     a client) before the leader's own copy is durable.
//  3. Call Advance(rd). Ready must not be called again before Advance.
//
// # Messages
//
// Message carries every RPC of the protocol; which fields matter depends on
// Type (see Message). Messages may be lost, duplicated, delayed and
// reordered; the protocol tolerates all of it. The transport must deliver a
// message only to the member named in To.
//
// # Beyond the basic algorithm
//
//   - ReadIndex (thesis §6.4): RawNode.ReadIndex confirms leadership with one
//     heartbeat round shared by all reads of a Ready; confirmed reads come
//     back as Ready.ReadStates. Followers forward reads to the leader.
//   - Leadership transfer (thesis §3.10): RawNode.TransferLeadership.
//   - Single-server membership changes with learners (thesis §4.1):
//     RawNode.ProposeConfChange and, when the entry is applied,
//     RawNode.ApplyConfChange. One change at a time, only after the leader
//     has committed an entry of its term; learners are promoted once they
//     are within LearnerPromotionLag entries.
//   - InstallSnapshot in chunks of SnapshotChunkSize bytes, one in flight,
//     resumed from the acknowledged offset after a loss: a chunk is taken
//     for lost after an election timeout without progress (twice as long
//     after each resend), never merely because a heartbeat came back
//     first, so a slow chunk is not queued again behind itself.
//
// Where this implementation departs from the paper is in docs/divergence.md.
package raft
