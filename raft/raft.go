package raft

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/raftkv/raftkv/internal/plant"
	"github.com/raftkv/raftkv/raft/quorum"
	"github.com/raftkv/raftkv/raft/tracker"
)

// StateType is a member's role.
type StateType uint8

const (
	StateFollower StateType = iota
	StatePreCandidate
	StateCandidate
	StateLeader
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StatePreCandidate:
		return "pre-candidate"
	case StateCandidate:
		return "candidate"
	case StateLeader:
		return "leader"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// campaignType says why an election starts.
type campaignType uint8

const (
	campaignPreElection campaignType = iota + 1 // Pre-Vote phase
	campaignElection                            // a real election
	campaignTransfer                            // ordered by MsgTimeoutNow: ignores leases
)

// transferContext marks vote requests of a leadership transfer, which voters
// grant even while they still hear from the old leader.
var transferContext = []byte("transfer")

type stepFunc func(r *raft, m Message) error

// raft is one member's protocol state. The exported surface is RawNode.
type raft struct {
	id uint64

	// Persistent state (Figure 2): Term, Vote, and the log.
	Term uint64
	Vote uint64
	log  *raftLog

	state StateType
	// lead is the leader of the current term as far as this member knows.
	lead uint64

	// voters and learners, sorted: every iteration over members uses these
	// slices so that the order of outgoing messages is deterministic.
	voters   []uint64
	learners []uint64
	prs      map[uint64]*tracker.Progress
	// votes received in the current (pre-)election; true = granted.
	votes map[uint64]bool

	msgs []Message

	// leadTransferee is the member leadership is being handed to (None if no
	// transfer is in progress). Invariant: only set while state == leader.
	leadTransferee uint64

	// Ticks since the last reset: for a leader, since the last heartbeat
	// broadcast / CheckQuorum round; for others, since hearing from a
	// leader or starting an election.
	electionElapsed  int
	heartbeatElapsed int

	electionTimeout  int
	heartbeatTimeout int
	// randomizedElectionTimeout is drawn from [electionTimeout,
	// electionTimeout+electionSpread) at every reset, so split votes
	// resolve (§5.2). Invariant: electionSpread >= 1 (by default it is
	// electionTimeout, giving [T, 2T)).
	randomizedElectionTimeout int
	electionSpread            int

	checkQuorum bool
	preVote     bool

	maxMsgSize  uint64
	maxInflight int
	chunkSize   uint64

	// snapBuf is the snapshot a follower is receiving chunk by chunk (nil
	// when none). Invariant: len(snapBuf.Data) is the next offset expected.
	snapBuf *Snapshot

	// ReadIndex (read_only.go). Invariant: pendingReads are in round order
	// and only a leader holds any.
	readLease bool
	lease     leaseState
	// voteGuard: this member started under leases less than an election
	// timeout ago and refuses votes as if it had heard from a leader (see
	// newRaft). Unlike lease, it outlives reset.
	voteGuard    bool
	pendingReads []readRequest
	waitingReads []readRequest
	readRound    uint64
	readAcked    map[uint64]uint64
	readStates   []ReadState

	// pendingConfIndex is the index of the latest membership change this
	// leader appended; another may be proposed only once it is applied.
	pendingConfIndex uint64
	// removingSelf: this leader's log holds its own removal, not yet
	// applied. It then accepts no proposal, so that when it steps down its
	// log holds nothing the voters that committed the removal lack: those
	// that have not applied the removal yet may still need its vote, which
	// it would refuse a candidate with a shorter log. Invariant: only set
	// while state == leader.
	removingSelf bool
	// promoteLag: learners within this many entries of the leader's log are
	// promoted automatically (0: never).
	promoteLag uint64

	// appendsPending: the leader appended proposals that are not yet sent;
	// they leave together, batched, when the next Ready is taken.
	appendsPending bool

	rand *rand.Rand
	bugs plant.Raft

	tick func()
	step stepFunc
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	log, err := newLog(c.Storage, c.MaxCommittedSizePerReady)
	if err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, err
	}
	voters, learners := cs.Voters, cs.Learners
	if len(voters) == 0 && len(learners) == 0 {
		voters, learners = c.Peers, c.Learners
	} else if len(c.Peers) > 0 || len(c.Learners) > 0 {
		return nil, fmt.Errorf("raft: Peers given but storage already holds a membership %v", cs)
	}
	r := &raft{
		id:               c.ID,
		lead:             None,
		log:              log,
		electionTimeout:  c.ElectionTick,
		electionSpread:   c.ElectionTick,
		heartbeatTimeout: c.HeartbeatTick,
		checkQuorum:      !c.DisableCheckQuorum,
		preVote:          !c.DisablePreVote,
		readLease:        c.ReadOnlyLeaseBased,
		promoteLag:       c.LearnerPromotionLag,
		maxMsgSize:       c.MaxSizePerMsg,
		maxInflight:      c.MaxInflightMsgs,
		chunkSize:        c.SnapshotChunkSize,
		rand:             c.Rand,
		bugs:             c.bugs,
	}
	if c.ElectionTickMax != 0 {
		r.electionSpread = c.ElectionTickMax - c.ElectionTick + 1
	}
	// A member that (re)starts under leases must not help elect anyone for
	// an election timeout: before a crash it may have acknowledged a
	// leader whose lease is still running.
	r.voteGuard = r.readLease && r.checkQuorum
	r.setMembers(voters, learners)
	if !hs.IsEmpty() {
		r.loadState(hs)
	}
	if c.Applied > 0 {
		r.log.appliedTo(c.Applied)
	}
	r.becomeFollower(r.Term, None)
	return r, nil
}

// setMembers replaces the membership, with fresh progress for everyone.
func (r *raft) setMembers(voters, learners []uint64) {
	r.voters, r.learners = nil, nil
	r.prs = map[uint64]*tracker.Progress{}
	for _, id := range voters {
		r.addMember(id, false)
	}
	for _, id := range learners {
		r.addMember(id, true)
	}
}

func (r *raft) addMember(id uint64, learner bool) {
	if _, ok := r.prs[id]; ok {
		return
	}
	r.prs[id] = tracker.NewProgress(r.log.lastIndex(), r.maxInflight, learner)
	if learner {
		r.learners = insertSorted(r.learners, id)
	} else {
		r.voters = insertSorted(r.voters, id)
	}
}

func insertSorted(ids []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}

func (r *raft) loadState(hs HardState) {
	if hs.Commit > r.log.lastIndex() {
		panic(fmt.Sprintf("raft: %x state.commit %d is out of range [%d, %d]", r.id, hs.Commit, r.log.committed, r.log.lastIndex()))
	}
	// A commit index below the snapshot's is what a crash leaves between
	// persisting a leader's snapshot and the hard state that goes with it
	// (the caller saves the snapshot first): the snapshot is committed, so
	// the commit index is at least its index.
	r.log.committed = max(hs.Commit, r.log.committed)
	r.Term = hs.Term
	r.Vote = hs.Vote
}

func (r *raft) hardState() HardState {
	return HardState{Term: r.Term, Vote: r.Vote, Commit: r.log.committed}
}

// promotable reports whether this member may campaign: it is a voter.
func (r *raft) promotable() bool {
	pr := r.prs[r.id]
	return pr != nil && !pr.IsLearner
}

func (r *raft) send(m Message) {
	m.From = r.id
	if m.Term == 0 {
		// Every message carries the sender's term, except pre-vote traffic
		// which carries the term of the prospective election and is set by
		// the caller.
		m.Term = r.Term
	}
	r.msgs = append(r.msgs, m)
}

// --- roles -----------------------------------------------------------------

func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.leadTransferee = None
	r.removingSelf = false
	r.votes = map[uint64]bool{}
	r.appendsPending = false
	// Reads waiting for confirmation are abandoned: this member no longer
	// leads (or leads a new term), so their callers must retry.
	r.pendingReads, r.waitingReads = nil, nil
	r.readAcked = map[uint64]uint64{}
	r.lease = leaseState{}
	last := r.log.lastIndex()
	for _, id := range r.members() {
		pr := r.prs[id]
		// RecentActive starts true so that a new leader is not deposed by
		// its first CheckQuorum round before anyone could answer it.
		*pr = tracker.Progress{Next: last + 1, Inflights: pr.Inflights, IsLearner: pr.IsLearner, RecentActive: true}
		pr.Inflights.Reset()
		if id == r.id {
			pr.Match = last
		}
	}
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionSpread)
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> pre-candidate]")
	}
	// Pre-Vote changes neither term nor vote: a member that cannot win
	// leaves no trace on the cluster (thesis §9.6).
	r.step = stepCandidate
	r.votes = map[uint64]bool{}
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	// Followers start in Probe; the leader's own entry is always matched.
	r.prs[r.id].BecomeReplicate()
	// The uncommitted tail may hold a membership change of an earlier term:
	// no new change until everything up to here is applied. If it is this
	// member's own removal, no proposal either.
	r.pendingConfIndex = r.log.lastIndex()
	r.removingSelf = r.removalPending()
	// A no-op entry of the new term: entries of earlier terms commit only
	// once an entry of the current term does (§5.4.2, §8), and it lets the
	// leader learn the commit index promptly.
	r.appendEntry(Entry{})
}

// --- ticks -----------------------------------------------------------------

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.voteGuard = false
	}
	if r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		r.hup(campaignElection)
	}
}

// tickHeartbeat is the leader's tick.
func (r *raft) tickHeartbeat() {
	r.lease.ticks++
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum && !r.checkQuorumActive() {
			r.becomeFollower(r.Term, None)
			return
		}
		// A transfer that has not finished within an election timeout is
		// abandoned, so proposals flow again (thesis §3.10).
		r.leadTransferee = None
	}
	if r.state != StateLeader {
		return
	}
	for _, id := range r.members() {
		if pr := r.prs[id]; pr.State == tracker.StateSnapshot {
			pr.SnapIdleTicks++
		}
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		r.bcastHeartbeat()
		r.maybePromoteLearners()
	}
}

// maxSnapPatience bounds, in election timeouts, how long a leader waits
// for a snapshot chunk before sending it again.
const maxSnapPatience = 16

// checkQuorumActive reports whether a majority of voters (this leader
// included) was heard from since the last check, and clears the marks.
func (r *raft) checkQuorumActive() bool {
	votes := map[uint64]bool{}
	for _, id := range r.members() {
		pr := r.prs[id]
		if id == r.id {
			votes[id] = true
			continue
		}
		if pr.RecentActive {
			votes[id] = true
		}
		pr.RecentActive = false
	}
	return quorum.Tally(r.voters, votes) == quorum.VoteWon
}

// --- elections ---------------------------------------------------------------

// hup starts an election (or a pre-election) if this member may.
func (r *raft) hup(t campaignType) {
	if r.state == StateLeader || !r.promotable() {
		return
	}
	if t == campaignElection && r.preVote {
		t = campaignPreElection
	}
	r.campaign(t)
}

func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = MsgPreVote
		term = r.Term + 1 // the term it would campaign in; not adopted yet
	} else {
		r.becomeCandidate()
		voteMsg = MsgVote
		term = r.Term
	}
	if r.poll(r.id, true) == quorum.VoteWon {
		// A single-voter cluster wins at once.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransfer {
		ctx = transferContext
	}
	for _, id := range r.voters {
		if id == r.id {
			continue
		}
		r.send(Message{Type: voteMsg, To: id, Term: term, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(), Context: ctx})
	}
}

// poll records a vote and returns the election's standing.
func (r *raft) poll(id uint64, granted bool) quorum.VoteResult {
	if _, ok := r.votes[id]; !ok {
		r.votes[id] = granted
	}
	return quorum.Tally(r.voters, r.votes)
}

// --- replication -------------------------------------------------------------

func (r *raft) appendEntry(es ...Entry) {
	li := r.log.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	li = r.log.append(es...)
	// The leader's own entries count toward commitment once the caller has
	// persisted them, which the Ready contract orders before any apply.
	r.prs[r.id].MaybeUpdate(li)
	r.maybeCommit()
}

// maybeCommit advances the commit index to what a majority of voters holds,
// if that entry is of the current term (§5.4.2). It reports whether it did.
func (r *raft) maybeCommit() bool {
	mci := quorum.CommittedIndex(r.voters, func(id uint64) uint64 { return r.prs[id].Match })
	if r.bugs.CountLearners && len(r.learners) > 0 {
		// Planted bug: the index held by as many members (learners
		// included) as a majority of voters.
		var match []uint64
		for _, id := range r.members() {
			match = append(match, r.prs[id].Match)
		}
		slices.Sort(match)
		mci = max(mci, match[len(match)-quorum.Majority(len(r.voters))])
	}
	if r.bugs.CommitOldTerm {
		// Planted bug: commit whatever a majority holds, whatever its term.
		if mci > r.log.committed && mci <= r.log.lastIndex() {
			r.log.commitTo(mci)
			return true
		}
		return false
	}
	return r.log.maybeCommit(mci, r.Term)
}

// members returns every member id (voters then learners), in a fixed order.
func (r *raft) members() []uint64 {
	if len(r.learners) == 0 {
		return r.voters
	}
	return append(slices.Clone(r.voters), r.learners...)
}

// sendAppend sends an append (possibly empty, as a probe) to member to.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends to member `to` the entries it lacks, or a snapshot if
// they are compacted away. With sendIfEmpty false it sends nothing when there
// are no new entries. It reports whether a message was sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.prs[to]
	if pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.log.term(prevIndex)
	ents, erre := r.log.entries(pr.Next, r.maxMsgSize)
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		return r.maybeSendSnapshot(to, pr)
	}
	if n := len(ents); n != 0 {
		switch pr.State {
		case tracker.StateReplicate:
			last := ents[n-1].Index
			pr.OptimisticUpdate(last)
			pr.Inflights.Add(last)
		case tracker.StateProbe:
			pr.ProbeSent = true
		}
	}
	r.send(Message{Type: MsgApp, To: to, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	return true
}

func (r *raft) maybeSendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		// Don't ship a snapshot to a member that may be down.
		return false
	}
	snap, err := r.log.snapshot()
	if err != nil {
		// The application could not provide one yet; try again later.
		return false
	}
	if snap.IsEmpty() {
		panic("raft: need a snapshot but the storage has none")
	}
	pr.BecomeSnapshot(snap.Metadata.Index)
	r.sendSnapshotChunk(to, pr, snap)
	return true
}

// resumeSnapshot sends the next chunk of a transfer in progress, or falls
// back to probing if the storage has no snapshot to offer.
func (r *raft) resumeSnapshot(to uint64, pr *tracker.Progress) {
	snap, err := r.log.snapshot()
	if err != nil || snap.IsEmpty() {
		pr.BecomeProbe()
		return
	}
	r.sendSnapshotChunk(to, pr, snap)
}

// sendSnapshotChunk sends the chunk of snap that starts at what the member
// acknowledged. If snap is newer than the pending one, the transfer starts
// over with it.
func (r *raft) sendSnapshotChunk(to uint64, pr *tracker.Progress, snap Snapshot) {
	if snap.Metadata.Index != pr.PendingSnapshot {
		pr.BecomeSnapshot(snap.Metadata.Index)
	}
	total := uint64(len(snap.Data))
	off := min(pr.SnapOffset, total)
	end := min(off+r.chunkSize, total)
	// The chunk shares the storage's bytes: nothing is copied here.
	chunk := &Snapshot{Metadata: snap.Metadata, Data: snap.Data[off:end:end]}
	pr.SnapIdleTicks = 0
	r.send(Message{Type: MsgSnap, To: to, Snapshot: chunk, SnapOffset: off, SnapTotal: total})
}

// bcastAppend sends appends to every other member, empty ones included (to
// carry a new commit index).
func (r *raft) bcastAppend() {
	for _, id := range r.members() {
		if id != r.id {
			r.sendAppend(id)
		}
	}
}

// flushAppends sends the proposals appended since the last Ready, batched
// into as few appends as the window allows.
func (r *raft) flushAppends() {
	if !r.appendsPending {
		return
	}
	r.appendsPending = false
	if r.state != StateLeader {
		return
	}
	for _, id := range r.members() {
		if id != r.id {
			for r.maybeSendAppend(id, false) {
			}
		}
	}
}

func (r *raft) bcastHeartbeat() {
	// Under leases every heartbeat is a read round, so that the answers
	// keep extending the lease.
	var ctx []byte
	if r.readLease {
		ctx = r.newReadRound()
	}
	for _, id := range r.members() {
		if id == r.id {
			continue
		}
		r.sendHeartbeat(id, ctx)
	}
}

// sendHeartbeat sends member to a heartbeat of read round ctx (nil: none).
// The commit index sent is capped at what the member is known to hold, so
// it never learns of a commit beyond its log.
func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	commit := min(r.prs[to].Match, r.log.committed)
	r.send(Message{Type: MsgHeartbeat, To: to, Commit: commit, Context: ctx})
}

// sendTimeoutNow orders to to campaign at once. The target's election
// ignores the followers' leases, so this leader's own lease ends here.
func (r *raft) sendTimeoutNow(to uint64) {
	r.lease.broken = true
	r.send(Message{To: to, Type: MsgTimeoutNow})
}

// --- Step ------------------------------------------------------------------

// Step advances the state machine by one message from a peer.
func (r *raft) Step(m Message) error {
	// Figure 2, "Rules for all servers": a message of a higher term makes
	// this member adopt the term and become a follower, with the exceptions
	// Pre-Vote and CheckQuorum require.
	switch {
	case m.Term > r.Term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := string(m.Context) == string(transferContext)
			inLease := r.checkQuorum && (r.lead != None || r.voteGuard) && r.electionElapsed < r.electionTimeout
			if !force && inLease {
				// This member heard from a live leader within the minimum
				// election timeout (or started under leases less than one
				// ago, see voteGuard): ignore the request (thesis §4.2.3),
				// without adopting its term, so a rejoining partitioned
				// member cannot depose a healthy leader.
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we would campaign in; it
			// is adopted when the real election starts.
		default:
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.Term:
		if m.Type == MsgHeartbeat || m.Type == MsgApp {
			// Figure 2, AppendEntries receiver rule 1: reply false with our
			// term, so a stale leader (cut off and now back) steps down.
			// Under Pre-Vote or CheckQuorum this is also what lets a member
			// whose term grew while it was partitioned rejoin: it ignores
			// the old leader's term, and cannot win an election either.
			r.send(Message{To: m.From, Type: MsgAppResp, Reject: true})
		} else if m.Type == MsgPreVote {
			// Tell the pre-candidate our term so it can catch up.
			r.send(Message{To: m.From, Type: MsgPreVoteResp, Reject: true})
		}
		// Every other message of an older term is ignored.
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		// Figure 2, RequestVote receiver: grant if votedFor is null or the
		// candidate, and the candidate's log is at least as up-to-date as
		// ours (§5.2, §5.4.1).
		canVote := r.Vote == m.From ||
			(r.Vote == None && r.lead == None) ||
			(m.Type == MsgPreVote && m.Term > r.Term) ||
			(r.bugs.DoubleVote && m.Type == MsgVote)
		upToDate := r.bugs.SkipUpToDateCheck || r.log.isUpToDate(m.Index, m.LogTerm)
		if canVote && upToDate {
			// A grant carries the term of the request: for a pre-vote that is
			// the prospective term, which we have not adopted.
			r.send(Message{To: m.From, Term: m.Term, Type: voteRespType(m.Type)})
			if m.Type == MsgVote {
				r.electionElapsed = 0
				r.Vote = m.From
			}
		} else {
			r.send(Message{To: m.From, Type: voteRespType(m.Type), Reject: true})
		}
		return nil
	}
	if r.step == nil {
		return nil
	}
	return r.step(r, m)
}

func voteRespType(t MessageType) MessageType {
	if t == MsgPreVote {
		return MsgPreVoteResp
	}
	return MsgVoteResp
}

func stepLeader(r *raft, m Message) error {
	pr := r.prs[m.From]
	if pr == nil {
		return ErrStepPeerNotFound
	}
	switch m.Type {
	case MsgAppResp:
		pr.RecentActive = true
		if m.Reject {
			// Fast backtracking (§5.3's optimisation): the follower told us
			// the last index at which it might match, with its term there;
			// skip every index of a term the leader cannot share.
			next := m.RejectHint
			if m.LogTerm > 0 {
				next, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
			}
			if pr.MaybeDecrTo(m.Index, next) {
				if pr.State == tracker.StateReplicate {
					pr.BecomeProbe()
				}
				r.sendAppend(m.From)
			}
			return nil
		}
		oldPaused := pr.IsPaused()
		if !pr.MaybeUpdate(m.Index) {
			return nil
		}
		switch {
		case pr.State == tracker.StateProbe:
			pr.BecomeReplicate()
		case pr.State == tracker.StateSnapshot && (pr.Match >= pr.PendingSnapshot || pr.Match+1 >= r.log.firstIndex()):
			// The snapshot (or enough entries) got there: resume appends.
			pr.BecomeReplicate()
		case pr.State == tracker.StateReplicate:
			pr.Inflights.FreeLE(m.Index)
		}
		if r.maybeCommit() {
			r.releaseWaitingReads()
			r.bcastAppend()
		} else if oldPaused {
			r.sendAppend(m.From)
		}
		// Stream whatever else the window allows.
		for r.maybeSendAppend(m.From, false) {
		}
		if m.From == r.leadTransferee && pr.Match == r.log.lastIndex() {
			r.sendTimeoutNow(m.From)
		}
	case MsgHeartbeatResp:
		pr.RecentActive = true
		pr.ProbeSent = false
		if !pr.IsLearner {
			r.ackRead(m.From, m.Context)
		}
		if pr.State == tracker.StateReplicate && pr.Inflights.Full() {
			pr.Inflights.FreeFirstOne()
		}
		if pr.State == tracker.StateSnapshot {
			// The member is alive. If no chunk went out or was
			// acknowledged for a while, the transfer stalled (a chunk or
			// its acknowledgement was lost): resend from what it
			// acknowledged, and be twice as patient next time.
			patience := max(pr.SnapPatienceTicks, r.electionTimeout)
			if pr.SnapIdleTicks >= patience {
				pr.SnapPatienceTicks = min(2*patience, maxSnapPatience*r.electionTimeout)
				r.resumeSnapshot(m.From, pr)
			}
		} else if pr.Match < r.log.lastIndex() {
			r.sendAppend(m.From)
		}
	case MsgSnapResp:
		pr.RecentActive = true
		if pr.State != tracker.StateSnapshot || m.Index != pr.PendingSnapshot {
			return nil // about a transfer that is over
		}
		if !m.Reject && m.SnapOffset <= pr.SnapOffset {
			return nil // a duplicate or reordered acknowledgement
		}
		if m.Reject && m.SnapOffset == pr.SnapOffset {
			// The member got a chunk out of order (a duplicate, or one
			// overtaken) and waits for the one at the offset we know it
			// holds: that one is in flight already. Sending it again would
			// start a second stream of chunks and rejections beside the
			// first, and every duplicate another (if it was lost, the
			// patience timer resends it).
			return nil
		}
		pr.SnapOffset = m.SnapOffset
		pr.SnapPatienceTicks = 0 // it is moving: back to the base patience
		r.resumeSnapshot(m.From, pr)
	case MsgReadIndex:
		return r.readIndex(m.Context, m.From)
	case MsgVoteResp, MsgPreVoteResp:
		// Late answers to an election this member already won.
	}
	return nil
}

// stepCandidate is the step of candidates and pre-candidates.
func stepCandidate(r *raft, m Message) error {
	myVoteResp := MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgApp:
		// Figure 2, Candidates: an AppendEntries from a leader of this term
		// means the election is lost.
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteResp:
		switch r.poll(m.From, !m.Reject) {
		case quorum.VoteWon:
			if r.state == StatePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case quorum.VoteLost:
			// Back to follower in the same term; the election timer runs
			// again from zero.
			r.becomeFollower(r.Term, None)
		}
	}
	return nil
}

func stepFollower(r *raft, m Message) error {
	switch m.Type {
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	case MsgReadIndex:
		// A read forwarded to a member that is no longer leader: pass it
		// on if we know better, else drop it (the caller retries).
		if r.lead != None {
			r.send(Message{To: r.lead, Type: MsgReadIndex, Context: m.Context})
		}
	case MsgTimeoutNow:
		// The leader hands over leadership: campaign at once, skipping
		// Pre-Vote, with a context that lets voters ignore their lease.
		r.hupTransfer()
	}
	return nil
}

func (r *raft) hupTransfer() {
	if !r.promotable() {
		return
	}
	r.campaign(campaignTransfer)
}

func (r *raft) handleAppendEntries(m Message) {
	if m.Index < r.log.committed {
		// Everything up to our commit index already matches the leader
		// (Log Matching); tell it so it can move on.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if last, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	// Figure 2, AppendEntries receiver rule 2: reply false. Include a hint
	// (the last index at or below the leader's prevLogIndex whose term is
	// not greater than the leader's prevLogTerm) so the leader can skip
	// back a whole term per round trip.
	hintIndex := min(m.Index, r.log.lastIndex())
	hintIndex, hintTerm := r.log.findConflictByTerm(hintIndex, m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m Message) {
	r.log.commitTo(m.Commit)
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context})
}

// handleSnapshot receives one chunk of InstallSnapshot. Chunks must arrive
// in order; a chunk that does not continue the snapshot being received is
// answered with a rejection naming the offset to resend from.
func (r *raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	md := m.Snapshot.Metadata
	if md.Index <= r.log.committed {
		// Already have everything it covers (or a stale transfer): tell the
		// leader how far we are so it resumes appends.
		r.snapBuf = nil
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	// have: the bytes of this same snapshot already received.
	var have uint64
	if b := r.snapBuf; b != nil && b.Metadata.Index == md.Index && b.Metadata.Term == md.Term {
		have = uint64(len(b.Data))
	}
	switch {
	case m.SnapOffset == 0:
		// A new transfer. Allocate the whole snapshot once, so appending
		// chunks never copies it.
		r.snapBuf = &Snapshot{Metadata: md, Data: make([]byte, 0, m.SnapTotal)}
	case m.SnapOffset != have:
		r.send(Message{To: m.From, Type: MsgSnapResp, Index: md.Index, SnapOffset: have, Reject: true})
		return
	}
	buf := r.snapBuf
	buf.Data = append(buf.Data, m.Snapshot.Data...)
	if uint64(len(buf.Data)) < m.SnapTotal {
		r.send(Message{To: m.From, Type: MsgSnapResp, Index: md.Index, SnapOffset: uint64(len(buf.Data))})
		return
	}
	r.snapBuf = nil
	if r.restore(*buf) {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.lastIndex()})
	} else {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
	}
}

// restore installs snapshot s if it is ahead of what this member has
// committed. It reports whether it did.
func (r *raft) restore(s Snapshot) bool {
	if s.Metadata.Index <= r.log.committed {
		return false
	}
	if r.state != StateFollower {
		return false // only a follower installs a snapshot
	}
	if r.log.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		// The log already holds the snapshot's last entry: just commit up
		// to it, keeping the entries after it.
		r.log.commitTo(s.Metadata.Index)
		return false
	}
	r.log.restore(s)
	r.setMembers(s.Metadata.ConfState.Voters, s.Metadata.ConfState.Learners)
	return true
}

// --- leadership transfer ---------------------------------------------------

// ErrTransferTarget: the requested transferee is not a voter.
var ErrTransferTarget = errors.New("raft: leadership transfer target is not a voter")

func (r *raft) transferLeadership(to uint64) error {
	if r.state != StateLeader {
		return &NotLeaderError{Leader: r.lead}
	}
	pr := r.prs[to]
	if pr == nil || pr.IsLearner {
		return ErrTransferTarget
	}
	if to == r.id || to == r.leadTransferee {
		return nil
	}
	r.leadTransferee = to
	// The transfer must finish within one election timeout from now.
	r.electionElapsed = 0
	if pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(to)
	} else {
		r.sendAppend(to)
	}
	return nil
}

// --- proposals ---------------------------------------------------------------

// propose appends data as a new entry if this member is the leader.
func (r *raft) propose(ents []Entry) error {
	switch {
	case r.state != StateLeader:
		return &NotLeaderError{Leader: r.lead}
	case r.prs[r.id] == nil:
		return ErrProposalDropped // removed from the cluster
	case r.leadTransferee != None, r.removingSelf:
		return ErrProposalDropped
	}
	r.appendEntry(ents...)
	r.appendsPending = true
	return nil
}

// removalPending reports whether the unapplied part of the log holds this
// member's removal.
func (r *raft) removalPending() bool {
	ents, err := r.log.entries(r.log.applied+1, math.MaxUint64)
	if err != nil {
		return false // compacted: only applied entries are compacted
	}
	for _, e := range ents {
		if e.Type != EntryConfChange {
			continue
		}
		if cc, err := UnmarshalConfChange(e.Data); err == nil && cc.Type == ConfChangeRemove && cc.NodeID == r.id {
			return true
		}
	}
	return false
}
