package raft

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// ConfChangeType is the kind of a single-server membership change.
type ConfChangeType uint8

const (
	// ConfChangeAddLearner adds a member that receives the log but does
	// not vote or count toward any quorum.
	ConfChangeAddLearner ConfChangeType = iota + 1
	// ConfChangeAddVoter adds a voter, or promotes a learner.
	ConfChangeAddVoter
	// ConfChangeRemove removes a member (voter or learner).
	ConfChangeRemove
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfChangeAddLearner:
		return "add-learner"
	case ConfChangeAddVoter:
		return "add-voter"
	case ConfChangeRemove:
		return "remove"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is a single-server membership change (thesis §4.1), carried by
// an EntryConfChange entry. Context is opaque to raft (the server puts the
// member's URLs there).
type ConfChange struct {
	Type    ConfChangeType `msgpack:"y"`
	NodeID  uint64         `msgpack:"n"`
	Context []byte         `msgpack:"x,omitempty"`
}

// Marshal encodes cc for an entry's Data.
func (cc ConfChange) Marshal() ([]byte, error) { return msgpack.Marshal(&cc) }

// UnmarshalConfChange decodes an EntryConfChange entry's Data.
func UnmarshalConfChange(b []byte) (ConfChange, error) {
	var cc ConfChange
	err := msgpack.Unmarshal(b, &cc)
	return cc, err
}

// Errors of membership changes.
var (
	// ErrConfChangePending: a change is already in the log and not yet
	// applied, or the leader has not committed an entry of its term yet.
	// One change at a time is what makes single-server changes safe.
	ErrConfChangePending = errors.New("raft: a membership change is in progress")
	// ErrConfChangeInvalid: the change makes no sense for the current
	// membership (removing a non-member, demoting a voter, removing the
	// last voter).
	ErrConfChangeInvalid = errors.New("raft: invalid membership change")
)

// proposeConfChange appends cc if this member leads and no other change is
// pending. Besides "one change at a time", the leader must have committed
// an entry of its own term first: that closes the single-server change bug
// found after the thesis (Ongaro, raft-dev, 2015), where a change from a
// previous term still in the log and a new leader's change could produce
// disjoint majorities.
func (r *raft) proposeConfChange(cc ConfChange) (uint64, error) {
	if r.state != StateLeader {
		return 0, &NotLeaderError{Leader: r.lead}
	}
	if r.leadTransferee != None {
		return 0, ErrProposalDropped
	}
	if (r.pendingConfIndex > r.log.applied && !r.bugs.ConcurrentConfChanges) || !r.committedInTerm() {
		return 0, ErrConfChangePending
	}
	if err := r.validConfChange(cc); err != nil {
		return 0, err
	}
	data, err := cc.Marshal()
	if err != nil {
		return 0, err
	}
	r.appendEntry(Entry{Type: EntryConfChange, Data: data})
	r.appendsPending = true
	r.pendingConfIndex = r.log.lastIndex()
	if cc.Type == ConfChangeRemove && cc.NodeID == r.id {
		r.removingSelf = true
	}
	return r.pendingConfIndex, nil
}

func (r *raft) validConfChange(cc ConfChange) error {
	pr := r.prs[cc.NodeID]
	switch {
	case cc.NodeID == None:
		return fmt.Errorf("%w: member id 0", ErrConfChangeInvalid)
	case cc.Type == ConfChangeAddLearner && pr != nil && !pr.IsLearner:
		return fmt.Errorf("%w: %d is a voter (demotion is not supported)", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeAddVoter && pr != nil && !pr.IsLearner:
		return fmt.Errorf("%w: %d is already a voter", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeRemove && pr == nil:
		return fmt.Errorf("%w: %d is not a member", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeRemove && !pr.IsLearner && len(r.voters) == 1:
		return fmt.Errorf("%w: cannot remove the last voter", ErrConfChangeInvalid)
	case cc.Type < ConfChangeAddLearner || cc.Type > ConfChangeRemove:
		return fmt.Errorf("%w: unknown type %d", ErrConfChangeInvalid, cc.Type)
	}
	return nil
}

// applyConfChange makes a committed change take effect on this member. The
// application calls it (through RawNode.ApplyConfChange) when it applies the
// entry, on every member, in log order: membership follows the applied log.
// A change that no longer fits (e.g. replayed twice) is applied as far as
// it makes sense and never panics.
func (r *raft) applyConfChange(cc ConfChange) ConfState {
	switch cc.Type {
	case ConfChangeAddLearner:
		r.addMember(cc.NodeID, true)
	case ConfChangeAddVoter:
		if pr, ok := r.prs[cc.NodeID]; ok && pr.IsLearner {
			pr.IsLearner = false
			r.learners = slices.DeleteFunc(r.learners, func(id uint64) bool { return id == cc.NodeID })
			r.voters = insertSorted(r.voters, cc.NodeID)
		} else {
			r.addMember(cc.NodeID, false)
		}
	case ConfChangeRemove:
		delete(r.prs, cc.NodeID)
		r.voters = slices.DeleteFunc(r.voters, func(id uint64) bool { return id == cc.NodeID })
		r.learners = slices.DeleteFunc(r.learners, func(id uint64) bool { return id == cc.NodeID })
		delete(r.readAcked, cc.NodeID)
		if r.leadTransferee == cc.NodeID {
			r.leadTransferee = None
		}
	}
	if r.state == StateLeader {
		if cc.Type == ConfChangeRemove && cc.NodeID == r.id {
			// A removed leader steps down (thesis §4.2.2); the others
			// elect a new leader when their election timeouts fire, or
			// sooner if the server transferred leadership before.
			r.becomeFollower(r.Term, None)
		} else if r.maybeCommit() {
			// A smaller quorum may commit more at once.
			r.releaseWaitingReads()
			r.bcastAppend()
		}
	}
	return r.confState()
}

func (r *raft) confState() ConfState {
	return ConfState{Voters: slices.Clone(r.voters), Learners: slices.Clone(r.learners)}
}

// maybePromoteLearners proposes the promotion of the first learner that has
// caught up to within promoteLag entries of the leader's log, if no other
// change is pending. Match only grows with the learner's acknowledgements,
// so a caught-up Match is also evidence that the learner is alive.
func (r *raft) maybePromoteLearners() {
	if r.promoteLag == 0 || len(r.learners) == 0 {
		return
	}
	last := r.log.lastIndex()
	for _, id := range r.learners {
		pr := r.prs[id]
		if pr.Match > 0 && pr.Match+r.promoteLag >= last {
			// One promotion at a time; if a change is pending this fails
			// and the next heartbeat tries again.
			_, _ = r.proposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: id})
			return
		}
	}
}
