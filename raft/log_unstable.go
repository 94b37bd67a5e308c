package raft

// unstable holds what the member has accepted but not yet persisted: entries
// from offset on and, possibly, a snapshot received from the leader.
//
// Invariant: if snapshot != nil, offset == snapshot.Metadata.Index+1.
// Invariant: entries[i].Index == offset+i.
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	offset   uint64
}

// maybeFirstIndex returns the first index known from an unstable snapshot.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index held in unstable, if any.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i, if unstable knows it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo drops entries up to i once they are persisted, provided entry i
// still has term t (it may have been replaced since the Ready was taken).
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	u.entries = u.entries[i+1-u.offset:]
	u.offset = i + 1
	if len(u.entries) == 0 {
		u.entries = nil // release the backing array
	}
}

func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}

func (u *unstable) restore(s Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
}

// truncateAndAppend appends ents, replacing any held entries at or after
// ents[0].Index.
func (u *unstable) truncateAndAppend(ents []Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replace everything unstable; the log now continues from after.
		u.offset = after
		u.entries = append([]Entry(nil), ents...)
	default:
		// Keep [offset, after), then the new entries. Copy so that a slice
		// handed out in an earlier Ready is never overwritten.
		kept := append([]Entry(nil), u.entries[:after-u.offset]...)
		u.entries = append(kept, ents...)
	}
}

func (u *unstable) slice(lo, hi uint64) []Entry {
	return u.entries[lo-u.offset : hi-u.offset]
}
