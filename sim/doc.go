// Package sim is raftkv's deterministic simulator: the real node core
// (node.Node, with raft, storage and kv) run on in-memory disks (vfs.MemFS)
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
// The same holds across versions when a change means to keep behaviour:
// sim/testdata/compare-traces.sh builds raftkv-sim from a commit (HEAD by
// default) and from the working tree, runs every preset for a few seeds
// with -trace, and compares the two sets of traces byte for byte.
//
// Options come from MakeOptions(preset, seed, short, bug). The "swarm"
// preset draws them from the seed: 3 or 5 members (sometimes 1 or 7),
// 1–10 clients on 1–5 keys, election and heartbeat ticks, one entry per
// append or not, Pre-Vote and CheckQuorum on or off, a snapshot count
// (small in five seeds out of six, so that members compact their logs and
// lagging ones catch up by InstallSnapshot) and a snapshot chunk size
// (256 B to 8 KiB in most of those, so that a snapshot travels in many
// chunks, some lost), latency, loss, duplication and reordering, the rate
// of each kind of fault (each off a quarter of the time: membership
// churn, leadership transfers and graceful stepdowns included), and the
// workload mix (ReadIndex reads most of the requests in a fifth of the
// seeds). Fixed presets: "default" (5 members, 10 clients, every fault on;
// the benchmark), "calm", "partitions", "crashes", "figure8" (the shape of
// faults that exposes Figure 8 of the Raft paper: three members, one entry
// per append, no Pre-Vote or CheckQuorum, leaders killed right after their
// election), "churn" (membership changes back to back under partitions,
// crashes and transfers, with snapshots every 40 entries sent in 512-byte
// chunks) and "reads" (mostly ReadIndex reads while leaders are cut off,
// paused, transferred and stepped down, without CheckQuorum so that a
// deposed leader lingers) and "leases" (the same reads served from the
// leader's read lease, with an election timeout of 300 ms and faults about
// as long). A third of the swarm's seeds with CheckQuorum run with leases,
// and half of those with snapshots write them in the background
// (SnapshotWriteMs), as the server does.
//
// The members are numbered from 1. A member that joins gets the next
// number; numbers are never reused.
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
//     history; when it is not linearizable (or its check runs out of
//     time) the HTML visualization is written to Config.HTMLDir as
//     raftkv-sim-<seed>.html, to the system's temporary directory when
//     HTMLDir is empty (to Config.PorcupineHTML whatever the verdict, when
//     set). A check that runs out of time (Config.CheckTimeout) is
//     "unknown", not a failure. Writes whose outcome the client never
//     learned (timeouts) used to make some checks run out of time; the
//     checker now settles them key by key (see package linearizability:
//     exact rewrites, then histories restricted to them taking effect
//     soon or never, before or beside the whole history) and decides
//     every history of a 1000-seed swarm, most in milliseconds, the
//     slowest in about a second on a shared 2-core machine (a seed with
//     one key and 18,571 operations, none ambiguous: Porcupine's own
//     cost), so the limit is a safety net. A swarm reports its verdict
//     counts and its slowest check (Result.CheckNs, wall clock, the one
//     number of a run that depends on the machine).
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
// Links have unlimited bandwidth unless Net.BandwidthMBps is set: then a
// message occupies its directed link for its size over the bandwidth and
// waits behind the ones before it. Disks sync instantly unless SyncMs is
// set: then a Ready that must be synced keeps its member busy that long
// (work arriving meanwhile is batched into its next Ready) and its
// messages and client answers leave only after. The swarm uses neither;
// the benchmarks do.
//
// Processes: a crash is a power loss (vfs.MemFS.Crash: unsynced writes
// are lost, a seeded prefix may survive torn) and the member restarts
// later from its disk (a new node.Node on the same MemFS); a pause
// stops a member, whose incoming messages and requests wait until it
// resumes; the leader is killed on a fixed schedule (LeaderKillEveryMs),
// and a new leader is killed within three ticks of its election with
// probability NewLeaderKill. At most MaxDown members are crashed or
// paused at once (a minority by default, sometimes all). Half the
// partitions that isolate one member isolate the leader.
//
// Leadership (Options.Faults): the leader is told to hand leadership to a
// random voter, caught up or not (TransferEveryMs, thesis §3.10); or it is
// shut down gracefully (StepdownEveryMs): node.Node.Stepdown hands
// leadership to its most caught-up voter, the member keeps running until
// another member leads or an election timeout passes, then stops without
// losing anything unsynced (a "crash" event with reason "stepdown") and
// restarts later.
//
// Membership churn (ChurnEveryMs), one change at a time, proposed at the
// current leader and retried every two heartbeats until it shows in the
// leader's configuration (raft refuses a change while another is
// unapplied): add a brand-new member, started with an empty disk knowing
// the current voters and itself as a learner, which the leader adds as a
// learner and promotes on its own once it has caught up (often by
// InstallSnapshot); remove a member, a learner or a voter, the leader
// itself sometimes (it steps down once the removal applies); or replace
// one: add, then remove another. A removed member keeps running (it may
// not know it was removed) until every voter of the leader's configuration
// has applied its removal, and about an election timeout longer; then its
// process is stopped for good. Meanwhile a member that has applied the
// removal refuses its messages (as etcd's transport does), so its terms
// cannot disrupt the cluster even without Pre-Vote and CheckQuorum, and
// the removed member, told so, stops at once (as an etcd member does) —
// unless it was one of two voters: the other, until it applies the
// removal, needs its vote. Partitions and crashes go on throughout. In
// the liveness phase the members that must converge are the leader's
// configuration, voters and learners.
//
// Clients: each has at most one request outstanding (a quorum get, set,
// update, create, compare-and-swap, delete or compare-and-delete on a small
// key set, with values never written before; or a get through ReadIndex:
// node.Node.ReadIndex, then a read of the member's own store once it
// has applied up to the confirmed index, which is what the history gets
// as the answer, so Porcupine checks these reads like the others).
// Requests and answers travel
// with the network's latency. A client follows NotLeader hints, tries
// another member when none is known, and gives up after TimeoutMs: the
// outcome is then unknown (ambiguous in the history) and it moves on to
// another member. A proposal the node reports lost (node.ErrProposalLost)
// certainly had no effect and is dropped from the history.
//
// # Checks
//
// After every change of any member (every Ready it handles, through
// node.Config.OnReady, and every restart), incrementally:
//
//   - election safety: at most one leader per term;
//   - log matching: two members holding an entry of the same index and term
//     hold identical logs up to it (a hash chain over each log makes this
//     one comparison per entry);
//   - leader completeness: a new leader holds every entry committed in an
//     earlier term (a candidate whose votes reached it late may lead an old
//     term after a newer term committed entries it lacks);
//   - committed entries never change: a member that commits an index (or
//     installs a snapshot covering it) has the entry committed there before;
//   - committed entries never lost: no member truncates its log at or below
//     its commit index, and after a crash a member still holds its term, its
//     vote in that term, and its log up to the commit index it knew
//     (Figure 2's persistent state);
//   - state machine safety: members apply the same entries, in order;
//   - configuration safety (thesis §4.1): a leader appends a membership
//     change only when every change before it in its log is applied, and
//     only after committing an entry of its own term (the raft-dev 2015
//     fix); a new leader is a voter of its own configuration, and its
//     voters differ from those the previous leader last had by at most
//     one, so that no two disjoint majorities exist across the membership
//     history (with election safety: no two leaders of one term);
//   - quorum of voters: when a leader's commit index moves, a majority of
//     the voters of its configuration hold the entry there (their persisted
//     logs, identical up to it): a learner, or a member being or already
//     removed, never makes up a quorum;
//   - snapshots never lose a committed entry: a snapshot a member takes or
//     installs at index i holds exactly the key space and membership that
//     applying the committed entries 1..i gives, and a member restarted
//     from its snapshot and WAL holds exactly the key space of applying the
//     entries up to where it re-applied. The reference state comes from a
//     replay: a fresh node.Node (the code every member runs) opened on a
//     scratch disk holding a state already verified plus the committed
//     entries after it.
//
// A failure is classed ClassSafety (the checks above, kv agreement,
// linearizability), ClassLiveness, or ClassCrash (a panic, a storage error,
// a member that cannot restart). Every planted bug is caught by the swarm
// (TestPlantedBugsCaught), which proves each check live:
//
//	double-vote            a voter votes twice in a term (election safety)
//	commit-old-term        Figure 8: a leader counts replicas of old-term
//	                       entries (leader completeness)
//	skip-up-to-date        votes without the §5.4.1 log comparison
//	skip-sync              persists without fsync (durability)
//	read-no-quorum         ReadIndex answered without the heartbeat round
//	                       that confirms leadership (linearizability; the
//	                       reads preset)
//	lease-without-acks     a leader under leases takes itself to hold the
//	                       lease whenever it leads (linearizability; the
//	                       leases preset, rarely)
//	learner-quorum         learners' acknowledgements count toward the
//	                       commit quorum (quorum of voters; churn preset)
//	two-conf-changes       a membership change accepted while another is
//	                       unapplied (configuration safety; churn preset)
//	snapshot-past-applied  a snapshot labelled with the last log index, not
//	                       the applied one (snapshots never lose ...)
//	snapshot-before-apply  a snapshot of the key space from before the last
//	                       batch applied (snapshots never lose ...)
//
// A run plants one of them by name: Options.Bug (MakeOptions' bug, the
// hidden -bug flag of raftkv-sim, which the replay command repeats). The
// defects themselves are package internal/plant's: raft.Config and
// node.Config have no field for them, so nothing outside this module can
// switch them on. The simulator plants the named set in each member's
// node.Config with plant.Node.Plant (never in the replay's reference
// node), and tests plant sets the same way, or a raft.Config's with
// plant.Raft.Plant.
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
//	drop       same fields, reason (loss|partition|down|removed: the
//	           sender's removal is applied at the receiver, which refuses it;
//	           user: dropped by a live session's user, traced when dropped;
//	           filter: dropped by a papers/ experiment's network filter)
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
//	request    client, id (member), op, key, value, prev, kind (read-index
//	           for a get through ReadIndex; local for one read from the
//	           member's store at once, a live session's; empty for one
//	           through the log); op watch: a live session's one-shot watch,
//	           answered by a response with the key's next change
//	request-arrive client, id, attempt
//	redirect   client, id (member that refused), lead (its hint, 0: none)
//	response   client, id, op, key, index, value, result (ok|not found|
//	           compare failed|already exists|lost|timeout|error N)
//	crash      id, reason (fault|leader kill|new leader kill|stepdown|user; a
//	           stepdown is a graceful stop that loses nothing)
//	restart    id, term, vote, commit, index and logTerm (its snapshot),
//	           log (what survived: runs of [first index, count, term])
//	pause, resume   id
//	partition  kind (isolate|split|bridge|asymmetric-out|asymmetric-in),
//	           groups (members that can talk among themselves; for bridge,
//	           [side, bridge, side]; for asymmetric, [member, others])
//	heal       (every partition healed)
//	clog, unclog   from, to
//	transfer   id (leader), to                 (told to hand leadership to to)
//	stepdown   id (leader), to (its choice, 0: none)
//	                                           (a graceful shutdown begins)
//	churn      kind (add|remove|replace), to (member to add), from (member
//	           to remove)                      (a membership change begins)
//	conf-propose id (leader), kind (add-learner|add-voter|remove), to
//	                                           (a step of it proposed)
//	join       id, voters                      (a new member starts, empty disk)
//	leave      id                              (a removed member is stopped
//	                                           for good)
//	phase      phase (liveness|converged)
//	end        result (ok|safety|liveness|crash), reason; in a live
//	           session also events (the number of events run)
//	input      kind (the action) and its fields: id, from, to, both, ms,
//	           mid, op, key, value, prev, quorum; events (the number of
//	           events run before it)          (a live session's user action,
//	                                           traced before its effects)
//	links      cut: [[from, to], ...]          (a live session's one-way cuts
//	                                           in force after a change; none:
//	                                           every link works)
//
// "msg" is the raft message type (MsgApp, MsgAppResp, MsgVote,
// MsgVoteResp, MsgPreVote, MsgPreVoteResp, MsgHeartbeat,
// MsgHeartbeatResp, MsgSnap, MsgSnapResp, MsgTimeoutNow, MsgReadIndex,
// MsgReadIndexResp); "mid" numbers messages so a
// send can be matched with its deliver or drop. TraceEventTypes lists the
// types; a new field or type is added without changing the format number,
// a changed meaning changes it.
//
// # Live sessions
//
// NewLive starts a run that its caller drives (the visualizer's live page,
// through the WebAssembly build in visualizer/wasm): AdvanceTo runs the
// events due up to a virtual time, AdvanceEvents runs a number of events,
// and Apply applies an Input, a user's action: crash, restart, pause,
// resume, force an election timeout, isolate and rejoin a member, transfer
// leadership, add or remove a member (through the churn machinery), cut,
// heal or clog a link, drop a message in flight, or send a client request
// (put, get through ReadIndex or from one member's store, compare-and-
// swap, delete, watch) through the simulated clients, which follow "not
// leader" hints and time out. An input that cannot apply is refused with
// an error and not recorded. Check runs Porcupine on the client history
// so far and returns its verdict with the HTML visualization. Every check
// of a run stays on: a failure ends the session.
//
// A live session has no phases (it stays in the safety phase and never
// heals on its own), and its options come from the preset "live"
// (LivePreset, which MakeOptions knows but Presets does not list): five
// members, no faults, no clients of their own, election timeouts of
// 300–600 ms, heartbeats every 100 ms, links of 10 ms plus an exponential
// tail of 5 ms, a snapshot every 100 entries; LiveOptions sets the page's
// changes over it. Each applied input is traced as an "input" event with
// its virtual time and the number of events run before it, so a session
// is a function of its seed, its options and its inputs: Session.Replay
// writes the same trace byte for byte, and ReadSession reads a session
// back from its trace, which ends with an end event carrying the events
// run (raftkv-sim -replay session.jsonl [-trace out.jsonl] replays one and
// says whether it is identical).
//
// # Benchmarks
//
// BenchReads runs closed-loop clients reading one key through ReadIndex,
// from the leader's lease or through the log on a calm 3-member cluster
// (0.5ms links, SyncMs disks) and reports reads per simulated second;
// BenchCatchUp starts 3 members from a snapshot of a large key space
// (Options.PreloadKeys) and times a brand-new member until it has caught
// up by InstallSnapshot over links of a set bandwidth, and until the
// leader promotes it. Both run with every check on. raftkv-sim -bench
// reads|catchup prints their tables.
//
// # Experiments
//
// The reproductions in papers/ run here too (experiments.go), every check
// on. ElectionAfterCrash is one trial of Figure 16 of the extended Raft
// paper: 5 members, election timeouts drawn from any range
// (Options.ElectionTickMax), two followers whose appends from the leader
// are lost (a network filter, so their logs are shorter), a crash of the
// leader at a uniformly random moment of its heartbeat interval, and the
// time until every survivor follows a new leader; its timing model may
// use ticks shorter than a millisecond, by running the clock faster.
// Disruption runs a 5-member cluster with clients for a simulated hour
// while a member is cut off and healed again and again (or the leader is
// cut off from the others, not from the clients), and counts leader
// changes, time without a leader and client requests that failed or
// waited, with Pre-Vote and CheckQuorum on or off.
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
