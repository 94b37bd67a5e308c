// Package linearizability records client histories against the etcd v2 key
// space and checks them for linearizability with Porcupine
// (github.com/anishathalye/porcupine).
//
// The same code serves the deterministic simulator (virtual time) and tests
// against real clusters (wall-clock time, concurrent clients).
//
// # Recording
//
// A [History] is shared by all clients and is safe for concurrent use. Each
// client owns one [Recorder] and, for every request:
//
//  1. calls [Recorder.Call] (or CallAt with an explicit time) before the
//     request leaves;
//  2. then exactly one of [Recorder.Return] (or ReturnAt) with the definite
//     outcome, or [Recorder.Ambiguous] when the outcome is unknown: a
//     timeout, a broken connection, or an error the model does not know.
//
// Time is an int64 in nanoseconds, taken from the [Clock] given to
// [NewHistory] ([WallClock] for real clients, the virtual clock for the
// simulator) or passed by the caller. Nothing in this package reads global
// randomness, and only WallClock reads the wall clock.
//
// The habits follow etcd's robustness suite:
//
//   - One recorder per client; a client's operations never overlap. A
//     recorder panics on a Call while an operation is outstanding, on a
//     Return without a Call, and on times that go backwards.
//   - Every write carries a value never written before. The model is sound
//     without this, but it is what makes lost, duplicated or reordered
//     writes visible to reads.
//   - A read with an unknown outcome is dropped: it changed nothing.
//   - A write with an unknown outcome stays in the history with
//     StatusAmbiguous and returns "at infinity" (one nanosecond after the
//     latest time in the history). It may have taken effect at any moment
//     after its call, or never. The recorder then continues under a fresh
//     client id, because its old client still has that write outstanding.
//     Operations still outstanding when [History.Operations] is taken are
//     treated the same way.
//
// # Model
//
// The model ([Model]) is partitioned by key: a history is linearizable iff
// each key's sub-history is, which holds because every modelled operation
// touches one key. The state of a key is whether it exists, its value, the
// modifiedIndex of its current node if known, and the highest modifiedIndex
// known for any write of the key so far (the "floor").
//
// Operations and their outcomes, as in the v2 API (errorCode in brackets):
//
//	get     value and modifiedIndex, or not found [100]
//	set     always succeeds
//	create  (prevExist=false) fails if the key exists [105]
//	update  (prevExist=true) fails if the key is missing [100]
//	cas     (prevValue and/or prevIndex) missing key [100]; mismatch [101]
//	delete  missing key [100]
//	cad     (prevValue and/or prevIndex) missing key [100]; mismatch [101]
//
// Indexes. The modifiedIndex of a key is a global store index that the
// model cannot predict (other keys and internal writes raise it too); it is
// only learned from responses. The model therefore keeps the index of the
// write that produced the current value, as reported by that write's
// response, and checks reads and prevIndex compares against it. When that
// write's outcome was unknown (or it reported no index, Output.Index == 0)
// the current index is unknown; the first read reporting an index, or the
// first successful compareAndSwap/compareAndDelete with a prevIndex, reveals
// it, and later operations must agree. Because every successful mutation
// raises the store index and writes of one key apply in linearization
// order, every write's index must exceed the floor; a learned index must
// too. All of this holds in any correct execution, whether or not values
// are unique, so it never rejects a linearizable history.
//
// Ambiguous writes. The step function applies an ambiguous write as if it
// took effect whenever its conditions can hold (a create of a missing key,
// a compare that matches or depends on an unknown index); the new value's
// index is unknown. "It did not take effect" needs no branch of its own:
// the write returns after everything, so the checker may linearize it last,
// where nobody observes it. This keeps the model deterministic, with a small
// comparable state, which is what keeps the check fast.
//
// # What is approximated
//
//   - A compare that failed while the current index was unknown tells the
//     model "index != prevIndex"; that fact is dropped, and an ambiguous
//     compare in that situation is assumed to match. Both can only make the
//     checker accept more, never reject a correct history.
//   - The store index in error responses, createdIndex, and the index
//     ordering between different keys are not checked.
//   - Not modelled: directories, in-order keys (POST), TTLs, expiry and
//     refresh (refresh changes modifiedIndex without a write the model
//     sees), recursive or sorted gets, watches, and non-quorum reads
//     (which are allowed to be stale). Workloads checked here must stay
//     within the modelled operations on plain file keys.
//   - A definite error outside the four known statuses (for example 102 or
//     a 5xx) should be recorded as ambiguous for writes, which is always
//     sound, and handled by the caller for reads.
//
// # Checking
//
// [Check] (or [History.Check]) returns a [Result] whose [Verdict] is ok,
// illegal, or unknown (timed out). Ambiguous writes are what makes a check
// slow: each returns at infinity, so it is concurrent with everything after
// its call, and Porcupine's search, whose cache tells states apart by the
// set of operations linearized so far, may try every subset of the pending
// ones; a key with a few dozen of them (a seed whose cluster is down for a
// while, its clients timing out again and again) used to take longer than
// any time limit. Check therefore works key by key, in stages:
//
//  1. Exact rewrites, which change no verdict given unique values (a value
//     written twice turns them off for that value): an ambiguous write
//     that cannot match (a compare on a prevValue nobody wrote), or that
//     is called after every definite operation of its key returned, is
//     dropped (it can be linearized last); one whose value a definite
//     operation observed (a get read it, a compare on it succeeded) took
//     effect, before the earliest such observer returned, and becomes a
//     successful write returning then.
//  2. If some are left, restricted histories are tried, each of which
//     can only be linearizable if the key's history is: the remaining
//     ambiguous writes dropped; if that is illegal, each made to take
//     effect within w, 4w or 16w of its call or never, where w is the
//     longest a definite write of the history took (checked with the
//     model over sets of states, since "took effect or not" is then a
//     choice). The first that checks ok proves the key.
//  3. The key's whole history is searched, as described above, once the
//     restricted histories gave up, or beside them once they have run
//     alone for an eighth of the time limit (running both at once slows
//     the restricted ones several times: the whole search is hungry for
//     memory). The first search to decide stops the other: ok from
//     either, illegal only from the whole history, so the verdict never
//     depends on which one wins.
//
// Keys are checked in parallel. The whole history and the one without
// ambiguous writes may use all of the time limit; each windowed one gets
// a sixteenth of it (a second when there is none), or four times what the
// one without ambiguous writes took, if more. A history the simulator's
// swarm used to leave unknown after 30 s (70 ambiguous writes on one key,
// none observed) is proven with them dropped in under a millisecond.
//
// When the verdict is not ok and a path is given, Check writes
// Porcupine's HTML visualization there: one row per client, one partition
// per key, with the longest partial linearizations and the model state
// after each step. Each key shows the history that decided it; the
// ambiguous writes it leaves out, and those it shows as successful
// because their value was observed, are marked on their clients' rows.
// The time limit is the one place where wall-clock time matters: whether
// a hard history ends ok or unknown depends on the machine, so a
// deterministic simulator should report unknown apart from both (ok and
// illegal are exact).
package linearizability
