// Package node is the node core of a raftkv member: raft, durable storage
// and the key space wired together and driven synchronously. The caller
// feeds it ticks (Tick), messages from peers (Step) and client commands
// (Propose), and calls HandleReady until it reports no more work.
//
// The package starts no goroutines, reads no clock and opens no socket:
// time comes in as arguments, the disk is a vfs.FS and the network a
// Transport, both handed in. Its imports say so, and a test in package
// internal/deps holds it to that. The deterministic simulator (package
// sim) drives exactly this object on a virtual clock and an in-memory
// disk, and so does its WebAssembly build; the real-time server (package
// server) wraps it in a loop with a ticker, the peer transport and the
// HTTP API, and reads its position through View, ConfState and Status.
//
// # What Node does with each Ready
//
//  1. Persists: the snapshot (if any), then hard state and entries in one
//     WAL batch with one fsync when raft says it must.
//  2. Sends the messages through its Transport, only after step 1, except
//     a leader's appends, which leave before its own write of the same
//     entries (thesis §10.2.1; HandleReady says why that is safe, and
//     Config.SerialLeaderWrites turns it off).
//  3. Installs the snapshot in the key space, then applies committed
//     entries in order, answering the proposals waiting on them.
//  4. Advances raft.
//
// # Entries
//
// A normal entry's data is a msgpack array [proposer id, sequence number,
// encoded kv.Command]. The proposer keeps a wait per index it proposed at;
// when the entry applied at that index is its own, the wait gets the
// store's answer, and when it is someone else's (a leader change
// overwrote it), the wait gets ErrProposalLost: the command certainly did
// not take effect. A proposal whose index is never reached, or is covered by
// a snapshot, gets no answer: its outcome is unknown, and the caller's
// timeout says so.
//
// An empty entry is a new leader's no-op; applying it grants TTL keys the
// leader-change grace (an election timeout), see package kv.
//
// # Time
//
// Commands carry the proposer's clock (Propose's nowNs). A leader whose
// store holds TTL keys proposes a time-only entry every SyncInterval, so
// keys expire without client traffic, identically on every member.
//
// # Reads
//
// Linearizable reads have two paths: ReadIndex (raft's read index, thesis
// §6.4: no log write, one heartbeat round shared by concurrent reads, then
// a local read once this member has applied up to the confirmed index), and
// kv.MethodQuorumGet commands, which go through the log. Local reads use
// Store().Get and may be stale.
//
// # Membership and snapshots
//
// ProposeConfChange proposes a single-server change (raft.ConfChange);
// every member applies it through raft when the entry is applied, and the
// resulting membership is what the next snapshot records. Every
// SnapshotCount applied entries the member snapshots its key space
// (kv.Store.Save) and compacts its log through storage (the first
// snapshot of a log comes Config.SnapshotStagger entries early, so that
// the members of a cluster do not all snapshot at once); a restart comes
// back from the newest snapshot plus the WAL after it. A follower too far
// behind receives the leader's snapshot by InstallSnapshot in chunks of
// Config.SnapshotChunkSize, one in flight at a time: a lost chunk is sent
// again from the offset the follower acknowledged, once it has had an
// election timeout to arrive, and the follower holds the snapshot once,
// assembling it in a buffer of its full size.
//
// # Graceful shutdown
//
// Stepdown, called on the leader before it stops, hands leadership to the
// voter most caught up with its log (TimeoutNow, thesis §3.10); the caller
// keeps driving the node until Lead() names another member or an election
// timeout passes.
package node
