// Package kv is the replicated state machine of raftkv: the etcd v2 key
// space (files and directories, TTLs, compare-and-swap/delete, in-order
// keys, watches with an event history, snapshots) as a deterministic
// function of the committed log.
//
// # Determinism
//
// kv does no I/O, starts no goroutines and reads no clock. The store has its
// own clock, which moves only when a command is applied: before each command
// runs, clock = max(clock, cmd.TimeUnixNano), and every node whose
// expiration is at or before the clock is deleted, in (expiration, path)
// order, each expiry taking one store index and emitting an "expire" event.
// A TTL becomes expiration = clock + ttl at apply time. So members that apply
// the same log have the same nodes, indexes, events, responses and snapshot
// bytes, whatever their own clocks say.
//
// # What the node core must do
//
//  1. For a client write or quorum read, build a Command (the HTTP layer
//     fills it from the v2 form, calling Validate first for 211/212), stamp
//     TimeUnixNano with the proposer's wall clock, Encode it, propose it.
//  2. For every committed entry, in log order: DecodeCommand and Apply. A
//     decode error is fatal for the member (the log is corrupt or from a
//     newer version): never skip an entry. Apply's result is the response
//     to the waiting client (if the entry was proposed here); its error is
//     always a *Error.
//  3. While HasTTLs is true, the leader proposes Command{Method: MethodSync,
//     TimeUnixNano: now} about every 500 ms, as v2's SYNC, so keys expire
//     without client traffic.
//  4. Leader-change grace (beyond v2, see docs/divergence.md): when the
//     empty entry a new leader appends at the start of its term is applied,
//     apply Command{Method: MethodSync, GraceNs: electionTimeout} (no time).
//     At the next forward move of the clock, every TTL due before
//     clock + GraceNs is pushed out to clock + GraceNs (no index, no event),
//     so keys whose owners could not refresh during the election survive
//     it. A timed Sync with GraceNs does the same in one step.
//  5. Snapshots: Save streams the state; Restore replaces it. Use the same
//     Options on every member (the history size shapes both).
//
// Reads not through the log use Get (local, possibly stale) and Watch. They
// may run concurrently with Apply: the Store is guarded by a RWMutex, and
// Apply never blocks on a watcher.
//
// # Semantics
//
// The v2 API (../shared/reference/etcd-v2-api.md; 2.x where 2.x and 0.4
// differ): PUT is set, create (PrevExist false), update (PrevExist true, no
// PrevValue/PrevIndex) or compareAndSwap (PrevValue or PrevIndex); POST
// creates <path>/<20-digit index>; DELETE is delete or compareAndDelete;
// MethodQuorumGet reads through the log without moving the index. Paths are
// cleaned; "/" is read-only (107); missing parents are created by writes.
// Names starting with "_" are hidden from listings and from recursive
// watches above them. Listings are always in key order (a directory's
// children are one range of the btree ordered by (parent, name)), so
// sorted=true costs nothing. The root reads as {"dir":true,...} with no key
// and no indexes, as in 2.x. TTLs shown (ttl field) are computed against the
// store clock, not the reading member's wall clock.
//
// Events, nodes and errors marshal with encoding/json to the v2 wire JSON;
// Event.Index is X-Etcd-Index for write responses, Watcher.Index for watches,
// and Error.Index for errors. Error.StatusCode gives the HTTP status.
//
// # Watches
//
// Watch(path, recursive, stream, sinceIndex) registers a watcher. The
// history holds the newest Options.HistorySize events (default 1000), one per
// store index (TTL refreshes included, but never delivered). sinceIndex 0
// means the next index; an index older than the oldest kept event is error
// 401. A one-shot watcher gets the first match and closes; a streaming one
// gets every match from sinceIndex (history first, then live) until Remove.
// A watcher whose buffer (Options.WatcherBuffer, default 100, plus room for
// its history replay) is full when an event arrives is closed with a *Error
// code 400 whose Index is the last event it was given: resuming with
// waitIndex = Index+1 loses nothing still in the history. Restore closes
// all watchers the same way.
//
// # Command encoding
//
// A Command is a msgpack map with short keys (m method, p path, v value,
// d dir, t ttl seconds, pv prevValue, pi prevIndex, pe prevExist,
// r refresh, rc recursive, s sorted, tm time in Unix ns, g grace ns), in
// that order, zero fields omitted (a nil t or pe is omitted, a pointer to
// zero is not); m is always there, as a uint8. Integers are written at
// their type's full width whatever their value: t and pi as uint64, tm and
// g as int64. DecodeCommand rejects unknown keys and trailing bytes.
//
// These are the bytes msgpack's reflection codec makes of the struct tags,
// which wrote existing logs and snapshots. Encode and DecodeCommand are
// written out by hand, for speed, and held to that codec by a property
// test. So the decoder also takes everything the reflection decoder took:
// keys in any order (a repeated key's last value wins), nil for any field
// (zero, or a nil pointer), integers of any msgpack width and sign (m keeps
// the low 8 bits), strings as str or bin, a nil Command (all zero), and the
// struct's array form: the 13 values in the order above, or an empty array.
//
// # Snapshot format (version 1)
//
// A stream of msgpack values:
//
//  1. header, an array [version=1, index, clockNs, pendingGraceNs,
//     nodeCount, eventCount];
//  2. nodeCount nodes, each an array [path, value, flags, createdIndex,
//     modifiedIndex, expireNs] with flags bit 0 = directory, bit 1 = has
//     TTL, in (parent path, name) order so every parent precedes its
//     children; the root is implicit;
//  3. eventCount history events, oldest first, each an array [action, node,
//     prevNode, index, refresh] where a node is nil or an array [key, value
//     (nil for directories), dir, hasTTL, expireNs, ttl, createdIndex,
//     modifiedIndex].
//
// Everything in it is a function of the applied log, so it is byte-identical
// across members. Stats are not in it (as in v2 they reset on restart).
package kv
