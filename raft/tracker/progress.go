// Package tracker holds the leader's view of each follower: how much of the
// log it is known to hold (Match), what to send it next (Next), and in which
// mode replication to it runs.
//
// A follower's progress is in one of three states:
//
//   - Probe: the leader does not know where the follower's log diverges. It
//     sends one append at a time and waits for the answer (or a heartbeat
//     response) before sending another, backing Next off on each rejection.
//   - Replicate: the follower has accepted an append; the leader streams
//     appends optimistically, advancing Next as it sends, bounded by a window
//     of in-flight messages (Inflights).
//   - Snapshot: the entries the follower needs are compacted away; the leader
//     has sent a snapshot and sends nothing else until the follower reports
//     it installed (or failed).
//
// Invariant: Match < Next.
package tracker

import "fmt"

// State is a follower's replication mode.
type State uint8

const (
	StateProbe State = iota
	StateReplicate
	StateSnapshot
)

func (s State) String() string {
	switch s {
	case StateProbe:
		return "probe"
	case StateReplicate:
		return "replicate"
	case StateSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Progress is the leader's bookkeeping for one member (itself included).
type Progress struct {
	// Match is the highest index known to be replicated on the member.
	// Next is the index of the next entry to send. Invariant: Match < Next.
	Match, Next uint64
	State       State
	// ProbeSent: in Probe, an append is outstanding and no other is sent
	// until a response or heartbeat response clears it.
	ProbeSent bool
	// PendingSnapshot is the index of the snapshot being sent (Snapshot state).
	PendingSnapshot uint64
	// SnapOffset is how many bytes of the pending snapshot the member has
	// acknowledged: the next chunk starts there (a lost chunk is resent
	// from it rather than from the start).
	SnapOffset uint64
	// SnapIdleTicks counts the leader's ticks since it last sent a chunk
	// of the pending snapshot; SnapPatienceTicks is how many it lets pass
	// before it takes the chunk for lost and sends it again (0: the
	// leader's base, an election timeout). The patience doubles with each
	// resend that brings no progress, so a chunk that is merely slow (a
	// large one on a narrow link) is not queued again behind itself.
	SnapIdleTicks, SnapPatienceTicks int
	// RecentActive: the member answered since the last CheckQuorum round.
	RecentActive bool
	// IsLearner: the member receives the log but neither votes nor counts.
	IsLearner bool
	// Inflights bounds the appends in flight in Replicate state.
	Inflights *Inflights
}

// NewProgress returns the progress of a member whose log is assumed to end
// at lastIndex (so Next = lastIndex+1), with an in-flight window of size
// maxInflight.
func NewProgress(lastIndex uint64, maxInflight int, learner bool) *Progress {
	return &Progress{Next: lastIndex + 1, Inflights: NewInflights(maxInflight), IsLearner: learner}
}

func (pr *Progress) resetState(s State) {
	pr.ProbeSent = false
	pr.PendingSnapshot = 0
	pr.SnapOffset = 0
	pr.SnapIdleTicks, pr.SnapPatienceTicks = 0, 0
	pr.State = s
	pr.Inflights.Reset()
}

// BecomeProbe moves to Probe, restarting from just after Match (or after a
// snapshot that was just installed).
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.resetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.resetState(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate moves to Replicate, streaming from just after Match.
func (pr *Progress) BecomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot moves to Snapshot while a snapshot of snapIndex is sent.
func (pr *Progress) BecomeSnapshot(snapIndex uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = snapIndex
}

// MaybeUpdate records that the member holds the log up to n. It reports
// whether Match advanced (a stale acknowledgement does not).
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.ProbeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// OptimisticUpdate advances Next past n after sending entries up to n,
// without waiting for an acknowledgement (Replicate state).
func (pr *Progress) OptimisticUpdate(n uint64) { pr.Next = n + 1 }

// MaybeDecrTo handles a rejected append whose prevLogIndex was rejected;
// matchHint is the highest index at which the leader and follower logs might
// still agree (derived from the follower's conflict hint). It reports whether
// Next moved; a rejection of an append that is no longer current is ignored.
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// Rejections at or below Match are stale: those entries were since
		// acknowledged.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In Probe only the answer to the last append sent is current.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.ProbeSent = false
	return true
}

// IsPaused reports whether the leader should hold back appends to the member.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.ProbeSent
	case StateReplicate:
		return pr.Inflights.Full()
	case StateSnapshot:
		return true
	}
	return false
}

func (pr *Progress) String() string {
	s := fmt.Sprintf("%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.IsLearner {
		s += " learner"
	}
	if pr.State == StateSnapshot {
		s += fmt.Sprintf(" pending=%d", pr.PendingSnapshot)
	}
	if pr.IsPaused() {
		s += " paused"
	}
	return s
}
