package raft

import (
	"slices"

	"github.com/raftkv/raftkv/raft/tracker"
)

// SoftState is volatile state worth observing: who leads and in what role
// this member is. It need not be persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is a batch of work for the caller, taken with RawNode.Ready and
// acknowledged with RawNode.Advance. See the package documentation for the
// order in which its parts must be handled.
type Ready struct {
	// SoftState is non-nil when the leader or role changed.
	*SoftState
	// HardState is to be persisted; empty when unchanged.
	HardState HardState
	// Entries are to be persisted (appended to stable storage, replacing
	// any held entry at the same index and everything after it).
	Entries []Entry
	// Snapshot, if not empty, is to be persisted and installed in the
	// application state machine.
	Snapshot Snapshot
	// CommittedEntries are to be applied to the state machine, in order.
	// They may include entries of this Ready's Entries: persist first.
	CommittedEntries []Entry
	// ReadStates are read requests whose index is confirmed: answer each
	// once the state machine has applied up to its Index.
	ReadStates []ReadState
	// Messages go out only after HardState, Entries and Snapshot are
	// durable (when MustSync, after a sync).
	Messages []Message
	// MustSync says whether the persistence of this Ready must be synced to
	// disk before Messages are sent: true when the term, the vote or the log
	// changed, or when CommittedEntries hold a membership change (whose
	// commit index must survive a crash once it is applied). Any other
	// change of the commit index alone need not be synced.
	MustSync bool
}

// RawNode is the synchronous face of the consensus state machine. It is not
// safe for concurrent use: one goroutine drives it.
type RawNode struct {
	raft      *raft
	prevSoft  SoftState
	prevHard  HardState
	inFlight  bool // a Ready was taken and not yet advanced
	readyHard HardState
	readySoft SoftState
}

// NewRawNode returns a member built from c. A member with an empty Storage
// and c.Peers set starts a brand-new cluster; one whose Storage holds state
// resumes from it.
func NewRawNode(c *Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{raft: r}
	rn.prevSoft = r.softState()
	rn.prevHard = r.hardState()
	return rn, nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// Tick advances the member's logical clock by one tick.
func (rn *RawNode) Tick() { rn.raft.tick() }

// Campaign makes this member start an election now (subject to Pre-Vote),
// as if its election timeout had elapsed.
func (rn *RawNode) Campaign() { rn.raft.hup(campaignElection) }

// Step hands the member a message received from a peer.
func (rn *RawNode) Step(m Message) error {
	if m.From == None || m.To != rn.raft.id {
		return ErrStepLocalMsg
	}
	if m.Type.IsResponse() && rn.raft.prs[m.From] == nil {
		return ErrStepPeerNotFound
	}
	return rn.raft.Step(m)
}

// Propose appends data to the log if this member leads, and returns the
// index it was given. A follower returns a *NotLeaderError naming the
// leader it knows; a leader that is handing over leadership returns
// ErrProposalDropped. Proposals made between two Ready calls leave in the
// same appends. The entry may still be lost (overwritten by another
// leader's entry at the same index); the caller learns which entry
// committed at that index when it is applied.
func (rn *RawNode) Propose(data []byte) (uint64, error) {
	if err := rn.raft.propose([]Entry{{Data: data}}); err != nil {
		return 0, err
	}
	return rn.raft.log.lastIndex(), nil
}

// ProposeBatch appends several entries at once, like Propose, and returns
// the index of the first.
func (rn *RawNode) ProposeBatch(data [][]byte) (uint64, error) {
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i].Data = d
	}
	if err := rn.raft.propose(ents); err != nil {
		return 0, err
	}
	return rn.raft.log.lastIndex() - uint64(len(data)) + 1, nil
}

// ProposeConfChange proposes a single-server membership change and
// returns its index. It fails with ErrConfChangePending while another
// change is unapplied or before the leader has committed an entry of its
// term, and with ErrConfChangeInvalid for a change that does not fit the
// membership.
func (rn *RawNode) ProposeConfChange(cc ConfChange) (uint64, error) {
	return rn.raft.proposeConfChange(cc)
}

// ApplyConfChange makes a committed membership change take effect. The
// application must call it when it applies an EntryConfChange entry, on
// every member, and record the returned membership (it goes into the next
// snapshot).
func (rn *RawNode) ApplyConfChange(cc ConfChange) ConfState { return rn.raft.applyConfChange(cc) }

// ReadIndex asks for a linearizable read (thesis §6.4) without writing to
// the log. ctx identifies the request; it comes back in a ReadState of a
// later Ready once the leader has confirmed, with one heartbeat round to a
// quorum, that it still leads. Reads made between two Readies share one
// round. A follower forwards the request to its leader; with no leader
// known it returns *NotLeaderError. A request may be lost (leader change,
// message loss): the caller retries after a timeout.
func (rn *RawNode) ReadIndex(ctx []byte) error { return rn.raft.readIndex(ctx, None) }

// TransferLeadership asks the leader to hand leadership to member to
// (thesis §3.10): it stops accepting proposals, brings to's log up to date,
// then tells it to campaign at once. The transfer is abandoned if it has
// not completed within an election timeout.
func (rn *RawNode) TransferLeadership(to uint64) error { return rn.raft.transferLeadership(to) }

// HasReady reports whether Ready would return any work.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.softState() != rn.prevSoft {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != rn.prevHard {
		return true
	}
	return r.log.unstable.snapshot != nil || len(r.msgs) > 0 || r.appendsPending ||
		len(r.readStates) > 0 || (len(r.pendingReads) > 0 && r.pendingReads[len(r.pendingReads)-1].round == 0) ||
		len(r.log.unstableEntries()) > 0 || r.log.hasNextCommittedEnts()
}

// Ready returns the work accumulated since the last Advance. Every Ready
// must be followed by Advance before the next Ready.
func (rn *RawNode) Ready() Ready {
	if rn.inFlight {
		panic("raft: Ready called twice without Advance")
	}
	r := rn.raft
	r.flushAppends()
	r.flushReads()
	rd := Ready{
		Entries:          r.log.unstableEntries(),
		CommittedEntries: r.log.nextCommittedEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	r.msgs = nil
	r.readStates = nil
	if ss := r.softState(); ss != rn.prevSoft {
		rd.SoftState = &ss
	}
	if hs := r.hardState(); hs != rn.prevHard {
		rd.HardState = hs
	}
	if s := r.log.unstable.snapshot; s != nil {
		rd.Snapshot = *s
	}
	hs := r.hardState()
	rd.MustSync = len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty() ||
		hs.Term != rn.prevHard.Term || hs.Vote != rn.prevHard.Vote ||
		hasConfChange(rd.CommittedEntries)
	rn.inFlight = true
	rn.readyHard = r.hardState()
	rn.readySoft = r.softState()
	return rd
}

// hasConfChange: a membership change is about to be applied. Membership
// takes effect when applied, and a restarted member re-applies up to the
// commit index it persisted, so that index must be durable before the
// change is used: otherwise a crash could bring the member back with the
// old membership, counting on a removed member that may be gone for good.
func hasConfChange(ents []Entry) bool {
	return slices.ContainsFunc(ents, func(e Entry) bool { return e.Type == EntryConfChange })
}

// Advance tells the member that rd has been handled: persisted, sent and
// applied as the package documentation requires.
func (rn *RawNode) Advance(rd Ready) {
	if !rn.inFlight {
		panic("raft: Advance without Ready")
	}
	rn.inFlight = false
	r := rn.raft
	rn.prevHard = rn.readyHard
	rn.prevSoft = rn.readySoft
	if n := len(rd.CommittedEntries); n > 0 {
		r.log.appliedTo(rd.CommittedEntries[n-1].Index)
	}
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.log.stableTo(e.Index, e.Term)
	}
	if !rd.Snapshot.IsEmpty() {
		r.log.stableSnapTo(rd.Snapshot.Metadata.Index)
		// The application installed the snapshot: it has applied it.
		r.log.applied = max(r.log.applied, rd.Snapshot.Metadata.Index)
	}
}

// Status is a snapshot of a member's state for observers (tests, the
// simulator's checkers, the stats API).
type Status struct {
	ID uint64
	HardState
	SoftState
	Applied   uint64
	LastIndex uint64
	// Progress is set on the leader only: each member's replication state.
	Progress map[uint64]tracker.Progress
	// LeadTransferee is the target of a leadership transfer in progress.
	LeadTransferee uint64
	// InLease: this leader holds a read lease now (ReadOnlyLeaseBased).
	InLease  bool
	Voters   []uint64
	Learners []uint64
}

// Status returns the member's current state.
func (rn *RawNode) Status() Status {
	r := rn.raft
	s := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.log.applied,
		LastIndex:      r.log.lastIndex(),
		LeadTransferee: r.leadTransferee,
		InLease:        r.inLease(),
		Voters:         append([]uint64(nil), r.voters...),
		Learners:       append([]uint64(nil), r.learners...),
	}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]tracker.Progress, len(r.prs))
		for id, pr := range r.prs {
			p := *pr
			p.Inflights = nil
			s.Progress[id] = p
		}
	}
	return s
}

// VisitProgress calls visit with each member's replication progress, in
// increasing id order, if this member leads (and never otherwise): the
// Progress of Status without building a map, for observers that look at it
// after every step (the simulator's trace). pr is a copy with Inflights
// nil, as in Status. visit must not call back into the RawNode.
func (rn *RawNode) VisitProgress(visit func(id uint64, pr tracker.Progress)) {
	r := rn.raft
	if r.state != StateLeader {
		return
	}
	// r.prs holds exactly the voters and the learners, two disjoint sorted
	// lists: merging them gives every id once, in order.
	v, l := r.voters, r.learners
	for len(v) > 0 || len(l) > 0 {
		var id uint64
		if len(l) == 0 || (len(v) > 0 && v[0] < l[0]) {
			id, v = v[0], v[1:]
		} else {
			id, l = l[0], l[1:]
		}
		if pr := r.prs[id]; pr != nil {
			p := *pr
			p.Inflights = nil
			visit(id, p)
		}
	}
}

// SoftState returns the member's role and the leader it knows, without
// the copying Status does.
func (rn *RawNode) SoftState() SoftState { return rn.raft.softState() }

// HardState returns the member's term, vote and commit index, without the
// copying Status does.
func (rn *RawNode) HardState() HardState { return rn.raft.hardState() }

// Term returns the term of the entry at index i in this member's log,
// including entries not yet persisted.
func (rn *RawNode) Term(i uint64) (uint64, error) { return rn.raft.log.term(i) }
