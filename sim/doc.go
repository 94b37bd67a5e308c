// Package sim is raftkv's deterministic simulator: the real node core
// (server.Node, with raft, storage and kv) run on in-memory disks (vfs.MemFS)
// and a simulated network, on a virtual clock, under faults, with Raft's
// safety properties checked as the run goes and the client history checked
// for linearizability at the end.
//
// # A run
//
// A run is a function of its seed and its Options, and of nothing else:
// one goroutine takes events from a queue ordered by (virtual time,
// sequence number of scheduling); every random choice comes from a
// math/rand/v2 PCG stream derived from the seed by name ("network",
// "faults", "workload", "disk" i, "member" i, "client" i, "options"), so
// the streams are independent of one another and of the order in which
// they are used. Nothing reads the wall clock or iterates a map in an order
// that can leak. The same seed and options give a byte-identical trace
// (TestDeterminism).
//
// Options come from MakeOptions(preset, seed, short, bug). The "swarm"
// preset draws them from the seed: 3 or 5 members (sometimes 1 or 7),
// 1–10 clients on 1–5 keys, election and heartbeat ticks, one entry per
// append or not, Pre-Vote and CheckQuorum on or off, a snapshot count,
// latency, loss, duplication and reordering, the rate of each kind of
// fault (each off a quarter of the time), and the workload mix. Fixed
// presets: "default" (5 members, 10 clients, every fault on; the
// benchmark), "calm", "partitions", "crashes", and "figure8" (the shape of
// faults that exposes Figure 8 of the Raft paper: three members, one entry
// per append, no Pre-Vote or CheckQuorum, leaders killed right after their
// election).
//
// # Phases
//
//  1. Safety phase (Options.SafetyMs): clients run and faults are
//     injected.
//  2. Liveness phase: faults stop, partitions and clogs heal, crashed
//     members restart, paused ones resume, clients issue no new requests.
//     Within Options.LivenessMs a leader must emerge whom every member
//     follows in its term, every member must apply the leader's whole log,
//     which must cover every index a client got a definite answer for
//     ("every acknowledged write is applied everywhere"), and every client
//     must have its answer or its timeout. Otherwise the run fails with
//     ClassLiveness.
//  3. End: every member's key space (kv.Store.Save bytes) must be
//     identical, and Porcupine (package linearizability) checks the
//     history; when it is not linearizable the HTML visualization is
//     written to Config.HTMLDir as raftkv-sim-<seed>.html (to
//     Config.PorcupineHTML whatever the verdict, when set). A check that
//     runs out of time (Config.CheckTimeout) is "unknown", not a failure.
//
// # Fault model
//
// Network (between members): each message has a latency of LatencyMinMs
// plus an exponential tail (variance reorders messages), is lost with
// probability Loss, duplicated with probability Duplicate, and held back
// an extra 0–10 tails with probability Reorder. Partitions, one at a time:
// isolate one member, split the members in two at random, bridge (two
// sides that only one member can talk to both of), and asymmetric (one
// member's outbound or inbound links cut); each heals after a random
// duration. A clog holds every message of one directed link until it
// ends. Partitions apply at delivery, so messages in flight are cut too.
//
// Processes: a crash is a power loss (vfs.MemFS.Crash: unsynced writes
// are lost, a seeded prefix may survive torn) and the member restarts
// later from its disk (a new server.Node on the same MemFS); a pause
// stops a member, whose incoming messages and requests wait until it
// resumes; the leader is killed on a fixed schedule (LeaderKillEveryMs),
// and a new leader is killed within three ticks of its election with
// probability NewLeaderKill. At most MaxDown members are crashed or
// paused at once (a minority by default, sometimes all).
//
// Clients: each has at most one request outstanding (a quorum get, set,
// update, create, compare-and-swap, delete or compare-and-delete on a small
// key set, with values never written before). Requests and answers travel
// with the network's latency. A client follows NotLeader hints, tries
// another member when none is known, and gives up after TimeoutMs: the
// outcome is then unknown (ambiguous in the history) and it moves on to
// another member. A proposal the node reports lost (server.ErrProposalLost)
// certainly had no effect and is dropped from the history.
//
// # Checks
//
// After every change of any member (every Ready it handles, through
// server.Config.OnReady, and every restart), incrementally:
//
//   - election safety: at most one leader per term;
//   - log matching: two members holding an entry of the same index and term
//     hold identical logs up to it (a hash chain over each log makes this
//     one comparison per entry);
//   - leader completeness: a new leader holds every entry committed before;
//   - committed entries never change: a member that commits an index (or
//     installs a snapshot covering it) has the entry committed there before;
//   - committed entries never lost: no member truncates its log at or below
//     its commit index, and after a crash a member still holds its term, its
//     vote in that term, and its log up to the commit index it knew
//     (Figure 2's persistent state);
//   - state machine safety: members apply the same entries, in order.
//
// A failure is classed ClassSafety (the checks above, kv agreement,
// linearizability), ClassLiveness, or ClassCrash (a panic, a storage error,
// a member that cannot restart). Every planted bug (Options.Bug: double-vote,
// commit-old-term, skip-up-to-date, skip-sync) is caught by the swarm
// (TestPlantedBugsCaught).
//
// # Trace (format 1)
//
// With Config.Trace set, a run writes JSON Lines. The first line is the
// header: {"type":"header","format":1,"seed":N,"options":{...},
// "members":[1,2,3],"replay":"go run ./cmd/raftkv-sim -seed N ..."}. Every
// other line is an event with "t", the virtual time in milliseconds
// (microsecond precision, never decreasing), and "type"; fields that are
// zero, empty or false are left out, so a reader treats a missing field as
// zero. Events and their fields:
//
//	role       id, role (follower|precandidate|candidate|leader), term, lead
//	term       id, term, vote                  (hard state change)
//	timeout    id, term                        (election timeout: a campaign starts,
//	                                           or starts again)
//	send       mid, from, to, msg, term, logTerm, index, entries, commit, reject
//	duplicate  same fields                     (the network will deliver mid twice)
//	deliver    same fields                     (handed to the member)
//	drop       same fields, reason (loss|partition|down)
//	append     id, index (first), count, term (of the last entry), log
//	           (runs as in restart, when the entries span several terms)
//	truncate   id, index (first removed), count
//	snapshot   id, index, term                 (a leader's snapshot installed)
//	compact    id, index, term                 (the member's own snapshot: its log
//	                                           now starts at index+1)
//	commit     id, index                       (the member's new commit index)
//	apply      id, index (first), count
//	kv         id, index, kv                   (the key space {key: value} once
//	                                           index is applied, traced by the
//	                                           first member to apply it)
//	progress   id (leader), to, match, next, kind (probe|replicate|snapshot)
//	                                           (the leader's view of a follower,
//	                                           when it changes)
//	conf       id, voters, learners            (the member's membership, at its
//	                                           start and when it changes)
//	request    client, id (member), op, key, value, prev
//	request-arrive client, id, attempt
//	redirect   client, id (member that refused), lead (its hint, 0: none)
//	response   client, id, op, key, index, value, result (ok|not found|
//	           compare failed|already exists|lost|timeout|error N)
//	crash      id, reason (fault|leader kill|new leader kill)
//	restart    id, term, vote, commit, index and logTerm (its snapshot),
//	           log (what survived: runs of [first index, count, term])
//	pause, resume   id
//	partition  kind (isolate|split|bridge|asymmetric-out|asymmetric-in),
//	           groups (members that can talk among themselves; for bridge,
//	           [side, bridge, side]; for asymmetric, [member, others])
//	heal       (every partition healed)
//	clog, unclog   from, to
//	phase      phase (liveness|converged)
//	end        result (ok|safety|liveness|crash), reason
//
// "msg" is the raft message type (MsgApp, MsgAppResp, MsgVote,
// MsgVoteResp, MsgPreVote, MsgPreVoteResp, MsgHeartbeat,
// MsgHeartbeatResp, MsgSnap, MsgTimeoutNow); "mid" numbers messages so a
// send can be matched with its deliver or drop. TraceEventTypes lists the
// types; a new field or type is added without changing the format number,
// a changed meaning changes it.
//
// # Replaying
//
// Every failure prints the seed and the command that replays it exactly,
// for example
//
//	go run ./cmd/raftkv-sim -seed 42 -preset figure8 -bug commit-old-term
//
// and adding -trace out.jsonl writes that run's trace. A swarm is
//
//	go run ./cmd/raftkv-sim -swarm -seeds 1000
//
// with exit code 2 for a safety failure, 3 for liveness, 4 for a crash.
package sim
