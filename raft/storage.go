package raft

import (
	"errors"
	"sync"
)

// Errors a Storage returns. raft handles each of them; any other error is
// treated as fatal by the caller.
var (
	// ErrCompacted: the requested index is below the first index still held
	// (it has been folded into a snapshot).
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrUnavailable: the requested index is beyond the last index held.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapOutOfDate: a snapshot older than the one already held was offered.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
)

// Storage is the read-only view raft has of a member's stable log: entries
// that have been durably persisted (the caller persists the entries of a
// Ready before calling Advance, then appends them to its Storage). raft never
// writes to it. Implementations must be safe for a single caller; raft does
// not call it concurrently.
//
// Invariant: FirstIndex()-1 is the index of the latest snapshot (or 0), and
// Term(FirstIndex()-1) answers with that snapshot's term.
type Storage interface {
	// InitialState returns the persisted HardState and membership.
	InitialState() (HardState, ConfState, error)
	// Entries returns entries in [lo, hi), at most maxSize bytes of Data
	// (always at least one entry if any is in range).
	Entries(lo, hi, maxSize uint64) ([]Entry, error)
	// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry held.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry still held
	// (older ones are in the snapshot).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory: the reference implementation,
// used by tests, the benchmark and as the pattern for storage.Log.
//
// ents[0] is a dummy entry whose Index/Term are those of the snapshot
// (invariant: len(ents) >= 1).
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	snapshot  Snapshot
	ents      []Entry
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, ms.snapshot.Metadata.ConfState, nil
}

// SetHardState records the latest persisted HardState.
func (ms *MemoryStorage) SetHardState(hs HardState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = hs
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	ents := ms.ents[lo-offset : hi-offset]
	return LimitSize(ents, maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the contents of the storage with snap.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.Metadata.Index <= ms.snapshot.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index i (which
// must be held) and returns it. Entries are not discarded; see Compact.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return Snapshot{}, ErrUnavailable
	}
	ms.snapshot.Metadata.Index = i
	ms.snapshot.Metadata.Term = ms.ents[i-offset].Term
	if cs != nil {
		ms.snapshot.Metadata.ConfState = *cs
	}
	ms.snapshot.Data = data
	return ms.snapshot, nil
}

// Compact discards entries up to and including compactIndex.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return ErrUnavailable
	}
	i := compactIndex - offset
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	return nil
}

// Append adds persisted entries. An entry whose index is already held
// replaces it and everything after it (log truncation).
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil // wholly compacted
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append([]Entry{}, ms.ents[:offset]...)
		ms.ents = append(ms.ents, entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return ErrUnavailable // a gap
	}
	return nil
}

// LimitSize returns the longest prefix of ents whose Data fits in maxSize
// bytes, but always at least one entry: the rule every Storage's Entries
// follows.
func LimitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := uint64(len(ents[0].Data))
	for n := 1; n < len(ents); n++ {
		size += uint64(len(ents[n].Data))
		if size > maxSize {
			return ents[:n]
		}
	}
	return ents
}
