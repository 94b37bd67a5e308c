package raft

import (
	"errors"
	"fmt"
)

// raftLog is a member's log: the stable part read through Storage and the
// unstable tail not yet persisted.
//
// Invariant: applied <= committed <= lastIndex().
// Invariant: firstIndex()-1 <= applied (entries below the snapshot are applied).
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be committed.
	committed uint64
	// applied is the highest index handed to the application to apply
	// (and acknowledged by Advance).
	applied uint64
	// maxNextEntsSize bounds the bytes of committed entries per Ready.
	maxNextEntsSize uint64
}

func newLog(storage Storage, maxNextEntsSize uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, err
	}
	l := &raftLog{storage: storage, maxNextEntsSize: maxNextEntsSize}
	l.unstable.offset = last + 1
	l.committed = first - 1
	l.applied = first - 1
	return l, nil
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applied=%d unstable.offset=%d len(unstable)=%d",
		l.committed, l.applied, l.unstable.offset, len(l.unstable.entries))
}

// maybeAppend handles the entries of an AppendEntries whose preceding entry
// is (index, logTerm). Figure 2, AppendEntries receiver rules 2-5: reply false
// if the log has no entry at index with term logTerm; delete conflicting
// entries and what follows; append new ones; advance commit to
// min(leaderCommit, index of last new entry). It returns the index of the
// last entry now known to match the leader's and whether the append was
// accepted.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastnewi := index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
		// Every entry already present; nothing to write.
	case ci <= l.committed:
		panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (committed=%d)", ci, l.committed))
	default:
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastnewi))
	return lastnewi, true
}

func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: appending after %d would overwrite committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that is not in
// the log (absent, or present with another term), or 0 if all are present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term: where the leader's probe can jump to (thesis §3.5's
// optimisation, "the follower includes the term of the conflicting entry").
// If the answer lies below the log's first index it returns that boundary.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

func (l *raftLog) unstableEntries() []Entry {
	if len(l.unstable.entries) == 0 {
		return nil
	}
	return l.unstable.entries
}

// nextCommittedEnts returns committed entries not yet applied, bounded in
// size. There are none while a restored snapshot has replaced the entries
// after the applied index (Advance then moves applied to the snapshot).
func (l *raftLog) nextCommittedEnts() []Entry {
	if !l.hasNextCommittedEnts() {
		return nil
	}
	lo, hi := l.applied+1, l.committed+1
	ents, err := l.slice(lo, hi, l.maxNextEntsSize)
	if err != nil {
		panic(fmt.Sprintf("raft: unexpected error reading committed entries: %v", err))
	}
	return ents
}

func (l *raftLog) hasNextCommittedEnts() bool {
	return l.committed > l.applied && l.applied+1 >= l.firstIndex()
}

func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(err)
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(err)
	}
	return i
}

func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed < tocommit {
		if l.lastIndex() < tocommit {
			panic(fmt.Sprintf("raft: commit %d is out of range [lastIndex %d]", tocommit, l.lastIndex()))
		}
		l.committed = tocommit
	}
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		panic(fmt.Sprintf("raft: applied %d out of range [prevApplied %d, committed %d]", i, l.applied, l.committed))
	}
	l.applied = i
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: unexpected error reading last term: %v", err))
	}
	return t
}

// term returns the term of entry i. Index 0 has term 0.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if i == 0 {
		return 0, nil
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(err)
}

func (l *raftLog) zeroTermOnOutOfRange(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	panic(err)
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// entries returns entries from i on, bounded by maxSize bytes.
func (l *raftLog) entries(i, maxSize uint64) ([]Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up-to-date as this one (§5.4.1): a later last term wins; with equal last
// terms the longer log wins.
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

// maybeCommit advances the commit index to maxIndex if entry maxIndex is of
// term: a leader commits by counting replicas only for entries of its own
// term (§5.4.2, Figure 8).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfRange(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

// restore replaces the log by a snapshot.
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// slice returns entries [lo, hi) bounded by maxSize bytes (at least one).
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid slice %d > %d", lo, hi))
	}
	if fi := l.firstIndex(); lo < fi {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice [%d,%d) out of bound [%d,%d]", lo, hi, l.firstIndex(), l.lastIndex()))
	}
	if lo == hi {
		return nil, nil
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if err != nil {
			return nil, err
		}
		// Storage returned fewer than asked: the size limit was reached.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			combined := make([]Entry, len(ents), len(ents)+len(u))
			copy(combined, ents)
			ents = append(combined, u...)
		} else {
			ents = u
		}
	}
	return LimitSize(ents, maxSize), nil
}
