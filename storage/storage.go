package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// Errors. Those shared with package log are the same values, so
// errors.Is works with either name.
var (
	// ErrClusterMismatch: the directory belongs to another cluster.
	ErrClusterMismatch = log.ErrClusterMismatch
	// ErrMemberMismatch: the directory belongs to another member.
	ErrMemberMismatch = log.ErrMemberMismatch
	// ErrCorrupt: a WAL record or snapshot file is damaged (see
	// log.CorruptError and SnapshotError for the file and offset).
	ErrCorrupt = log.ErrCorrupt
	// ErrFailed: an earlier write or sync failed; the Storage refuses
	// further writes. Close it and Open the directory again.
	ErrFailed = log.ErrFailed
	// ErrClosed: the Storage is closed.
	ErrClosed = errors.New("storage: closed")
	// ErrSnapshotMissing: the WAL names a snapshot whose file is gone.
	ErrSnapshotMissing = errors.New("storage: snapshot file named by the WAL is missing")
	// ErrWALMissing: the directory holds snapshots but no WAL. Starting
	// afresh would forget votes and acknowledged entries, so Open refuses.
	ErrWALMissing = errors.New("storage: snapshot files but no WAL")
	// ErrSnapshotTooLarge: a snapshot does not fit in one record.
	ErrSnapshotTooLarge = errors.New("storage: snapshot larger than log.MaxRecordLen")
)

// DefaultSnapshotsKept is how many snapshot files SaveSnapshot keeps.
const DefaultSnapshotsKept = 5

// Options configure a Storage.
type Options struct {
	// ClusterID and MemberID are written into every WAL segment and
	// snapshot file, and checked on open.
	ClusterID, MemberID uint64
	// SegmentSize is the WAL segment size; 0 means log.DefaultSegmentSize.
	SegmentSize int64
	// Preallocate fills WAL segments with zeros ahead of use
	// (log.Options.Preallocate).
	Preallocate bool
	// SnapshotsKept is how many snapshot files to keep (at least 1);
	// 0 means DefaultSnapshotsKept.
	SnapshotsKept int
	// ObserveSync, if set, is told how long each sync of a WAL segment
	// (log.Options.ObserveSync) or of a snapshot file took.
	ObserveSync func(time.Duration)
	// Logger receives recovery events; nil means slog.Default().
	Logger *slog.Logger
}

// Storage is a member's durable state. It implements raft.Storage from an
// in-memory index: reads never touch files (but for Snapshot after
// DropSnapshotData or PrepareSnapshotStream). Reads are safe concurrently
// with each other and with one writer (Save, SaveSnapshot, CreateSnapshot,
// Close, which are serialised among themselves).
type Storage struct {
	fsys   vfs.FS
	dir    string
	opts   Options
	logger *slog.Logger
	fresh  bool
	// maxSnapshotFile, if positive, replaces log.MaxRecordLen as the
	// largest snapshot file (tests set it).
	maxSnapshotFile int

	wmu sync.Mutex // serialises writers; held across I/O
	wal *log.WAL   // guarded by wmu
	err error      // sticky failure, guarded by wmu

	mu   sync.RWMutex // guards the index below; never held across I/O
	hs   raft.HardState
	snap raft.Snapshot
	// snapOnDisk: the snapshot's data is only in its file (dropped by
	// DropSnapshotData, or streamed there by PrepareSnapshotStream);
	// snap.Data is nil until Snapshot reads the file.
	snapOnDisk bool
	// loadMu serialises Snapshot's reads of the file; held across I/O.
	loadMu sync.Mutex
	// loadFailed is the index of the last snapshot whose file Snapshot
	// could not read back (logged once); guarded by loadMu.
	loadFailed uint64
	// ents are the entries after snap.Metadata.Index.
	// invariant: ents[i].Index == snap.Metadata.Index + 1 + i.
	ents []raft.Entry
}

func (s *Storage) walDir() string  { return filepath.Join(s.dir, "wal") }
func (s *Storage) snapDir() string { return filepath.Join(s.dir, "snap") }

// Open opens the member's data directory dir, creating it if needed, and
// recovers its state: the snapshot the WAL's newest marker names, then the
// WAL after it. A directory of another cluster or member fails with
// ErrClusterMismatch or ErrMemberMismatch; damage fails with ErrCorrupt
// naming the file and offset, and nothing is modified.
func Open(fsys vfs.FS, dir string, opts Options) (*Storage, error) {
	if opts.SnapshotsKept <= 0 {
		opts.SnapshotsKept = DefaultSnapshotsKept
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Storage{fsys: fsys, dir: dir, opts: opts, logger: opts.Logger}
	for _, d := range []string{s.walDir(), s.snapDir()} {
		if err := fsys.MkdirAll(d); err != nil {
			return nil, err
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return nil, err
	}
	snapNames, err := s.listSnapshots(true)
	if err != nil {
		return nil, err
	}
	if len(snapNames) > 0 {
		// Checked before log.Open, which would start an empty WAL.
		walNames, err := fsys.ReadDir(s.walDir())
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(walNames, func(n string) bool { return strings.HasSuffix(n, ".wal") }) {
			return nil, fmt.Errorf("%w: %s holds %d snapshot files", ErrWALMissing, dir, len(snapNames))
		}
	}
	w, st, err := log.Open(fsys, s.walDir(), log.Options{
		ClusterID: opts.ClusterID, MemberID: opts.MemberID,
		SegmentSize: opts.SegmentSize, Preallocate: opts.Preallocate, ObserveSync: opts.ObserveSync,
		Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	if st.Snapshot.Index > 0 {
		snap, err := s.readSnapshot(st.Snapshot.Index, st.Snapshot.Term)
		if err != nil {
			w.Close()
			return nil, err
		}
		s.snap = snap
	}
	// Snapshot files newer than the marker were written by a SaveSnapshot
	// that crashed before its marker: never acknowledged, so unused.
	for _, n := range snapNames {
		if n.index > st.Snapshot.Index {
			s.logger.Info("storage: removing snapshot without a WAL marker", "file", n.path)
			if err := fsys.Remove(n.path); err != nil {
				w.Close()
				return nil, err
			}
		}
	}
	s.wal, s.fresh, s.hs, s.ents = w, st.Fresh, st.HardState, st.Entries
	return s, nil
}

// Fresh reports whether Open found no WAL and started an empty one: a new
// member, to be bootstrapped rather than restarted.
func (s *Storage) Fresh() bool { return s.fresh }

// InitialState implements raft.Storage: the last saved HardState and the
// membership of the snapshot.
func (s *Storage) InitialState() (raft.HardState, raft.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hs, s.snap.Metadata.ConfState, nil
}

// Entries implements raft.Storage. The returned slice must not be modified.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]raft.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	base := s.snap.Metadata.Index
	if lo <= base {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex()+1 {
		return nil, raft.ErrUnavailable
	}
	if lo > hi {
		return nil, fmt.Errorf("storage: Entries(%d, %d): lo > hi", lo, hi)
	}
	ents := s.ents[lo-base-1 : hi-base-1 : hi-base-1]
	return raft.LimitSize(ents, maxSize), nil
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.term(i)
}

// term: caller holds s.mu.
func (s *Storage) term(i uint64) (uint64, error) {
	base := s.snap.Metadata.Index
	switch {
	case i < base:
		return 0, raft.ErrCompacted
	case i == base:
		return s.snap.Metadata.Term, nil
	case i > s.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.ents[i-base-1].Term, nil
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastIndex(), nil
}

func (s *Storage) lastIndex() uint64 { return s.snap.Metadata.Index + uint64(len(s.ents)) }

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Metadata.Index + 1, nil
}

// Snapshot implements raft.Storage: the newest saved snapshot.
//
// After DropSnapshotData, or once a snapshot from PrepareSnapshotStream is
// committed, the first call reads the snapshot's file (and keeps its data
// until the next DropSnapshotData): the one read of raft.Storage that
// touches a file, and may fail like one.
func (s *Storage) Snapshot() (raft.Snapshot, error) {
	s.mu.RLock()
	snap, onDisk := s.snap, s.snapOnDisk
	s.mu.RUnlock()
	if !onDisk {
		return snap, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.RLock()
	snap, onDisk = s.snap, s.snapOnDisk
	s.mu.RUnlock()
	if !onDisk {
		return snap, nil // loaded meanwhile
	}
	loaded, err := s.readSnapshot(snap.Metadata.Index, snap.Metadata.Term)
	if err != nil {
		// Raft asks again at its next chance; say so once per snapshot,
		// since a follower that needs it cannot catch up meanwhile.
		if s.loadFailed != snap.Metadata.Index {
			s.loadFailed = snap.Metadata.Index
			s.logger.Error("storage: cannot read the snapshot back from its file: a follower that needs it cannot catch up", "index", snap.Metadata.Index, "err", err)
		}
		return raft.Snapshot{}, err
	}
	s.mu.Lock()
	if s.snapOnDisk && s.snap.Metadata.Index == loaded.Metadata.Index {
		s.snap.Data, s.snapOnDisk = loaded.Data, false
	}
	s.mu.Unlock()
	return loaded, nil
}

// SnapshotMetadata is the current snapshot's metadata (zero if none),
// without its data.
func (s *Storage) SnapshotMetadata() raft.SnapshotMetadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Metadata
}

// DropSnapshotData lets go of the current snapshot's data, which the
// Storage otherwise keeps in memory from the moment it wrote or read the
// file until the next snapshot: as large as the key space it encodes, and
// needed only to send to a follower too far behind for the log. The next
// Snapshot reads it from the file again.
func (s *Storage) DropSnapshotData() {
	s.mu.Lock()
	if !s.snap.IsEmpty() && !s.snapOnDisk {
		s.snap.Data, s.snapOnDisk = nil, true
	}
	s.mu.Unlock()
}

// failed records a write error: the Storage is unusable from now on.
// Caller holds s.wmu.
func (s *Storage) failed(err error) error {
	if !errors.Is(err, ErrFailed) {
		err = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	s.err = err
	return err
}

// Save persists one Ready's entries and hard state as one WAL batch, then
// makes them visible through raft.Storage. With mustSync the batch is
// durable when Save returns (exactly one fsync). Entries at or below the
// snapshot index are ignored; an entry whose index is already held replaces
// it and everything after it. An empty hs is not written.
func (s *Storage) Save(hs raft.HardState, ents []raft.Entry, mustSync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.mu.RLock()
	base := s.snap.Metadata.Index
	s.mu.RUnlock()
	for len(ents) > 0 && ents[0].Index <= base {
		ents = ents[1:]
	}
	if err := s.wal.Save(hs, ents, mustSync); err != nil {
		if errors.Is(err, log.ErrOutOfOrder) || errors.Is(err, log.ErrTooLarge) {
			return err // nothing was written
		}
		return s.failed(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ents) > 0 {
		k := ents[0].Index - base - 1 // entries kept before the new ones
		if k < uint64(len(s.ents)) {
			// Truncation: copy, so slices handed out by Entries stay intact.
			s.ents = append(s.ents[:k:k], ents...)
		} else {
			s.ents = append(s.ents, ents...)
		}
	}
	if !hs.IsEmpty() {
		s.hs = hs
	}
	return nil
}

// SaveSnapshot persists snap and compacts the log to it: the snapshot file
// is written under a temporary name, synced, renamed and its directory
// synced; then a WAL marker is written and synced; then the in-memory log
// drops the entries up to snap's index — and the entries after it as well
// unless the log holds snap's last entry (same index and term, thesis
// Figure 13 steps 6–7); then WAL segments wholly below the snapshot and all
// but the newest SnapshotsKept snapshot files up to it are removed. A snapshot not
// newer than the current one fails with raft.ErrSnapOutOfDate.
func (s *Storage) SaveSnapshot(snap raft.Snapshot) error {
	p, err := s.prepare(snap)
	if err != nil {
		return err
	}
	return s.CommitSnapshot(p)
}

// PreparedSnapshot is a snapshot whose file is durable but which the log
// does not use yet (see PrepareSnapshot).
type PreparedSnapshot struct {
	snap    raft.Snapshot
	dataLen int
	// onDisk: the data is only in the file (PrepareSnapshotStream);
	// snap.Data is nil, and committing it leaves the Storage as after
	// DropSnapshotData.
	onDisk bool
}

// Snapshot is the prepared snapshot (without its data if it was streamed:
// PrepareSnapshotStream).
func (p *PreparedSnapshot) Snapshot() raft.Snapshot { return p.snap }

// DataLen is the length of the snapshot's data, in memory or streamed.
func (p *PreparedSnapshot) DataLen() int { return p.dataLen }

// PrepareSnapshot is the slow half of CreateSnapshot: it writes and syncs
// the snapshot file of the state machine at index i (which must be in the
// log) with membership cs and state data, and changes nothing else. It is
// safe concurrently with the one writer (Save and the rest), so a member
// can write a large snapshot in the background while it keeps appending;
// CommitSnapshot, back on the writer's goroutine, then compacts the log.
// A prepared snapshot that is never committed is only a file, ignored on
// restart (no WAL marker names it) and removed by later purges.
func (s *Storage) PrepareSnapshot(i uint64, cs raft.ConfState, data []byte) (*PreparedSnapshot, error) {
	md, err := s.newSnapshotMetadata(i, cs)
	if err != nil {
		return nil, err
	}
	return s.prepare(raft.Snapshot{Metadata: md, Data: data})
}

// newSnapshotMetadata is the metadata of a snapshot at index i, which must
// be in the log and newer than the current snapshot (else
// raft.ErrSnapOutOfDate).
func (s *Storage) newSnapshotMetadata(i uint64, cs raft.ConfState) (raft.SnapshotMetadata, error) {
	s.mu.RLock()
	t, err := s.term(i)
	cur := s.snap.Metadata.Index
	s.mu.RUnlock()
	if i <= cur {
		return raft.SnapshotMetadata{}, raft.ErrSnapOutOfDate
	}
	if err != nil {
		return raft.SnapshotMetadata{}, err
	}
	return raft.SnapshotMetadata{Index: i, Term: t, ConfState: cs}, nil
}

func (s *Storage) prepare(snap raft.Snapshot) (*PreparedSnapshot, error) {
	s.wmu.Lock()
	err := s.err
	s.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	cur := s.snap.Metadata.Index
	s.mu.RUnlock()
	if snap.Metadata.Index <= cur {
		return nil, raft.ErrSnapOutOfDate
	}
	parts := snapshotParts(s.opts.ClusterID, s.opts.MemberID, snap)
	size := 0
	for _, b := range parts {
		size += len(b)
	}
	if size > s.snapshotLimit() {
		return nil, ErrSnapshotTooLarge
	}
	if err := s.writeSnapshotFile(snap, parts); err != nil {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return nil, s.failed(err)
	}
	snap.Data = keptData(snap.Data)
	return &PreparedSnapshot{snap: snap, dataLen: len(snap.Data)}, nil
}

// snapshotLimit is the largest snapshot file: log.MaxRecordLen, or less
// in tests.
func (s *Storage) snapshotLimit() int {
	if s.maxSnapshotFile > 0 {
		return s.maxSnapshotFile
	}
	return log.MaxRecordLen
}

// CommitSnapshot makes a prepared snapshot the log's base: a WAL marker
// (synced), then the compaction and purge that SaveSnapshot describes. A
// snapshot overtaken since it was prepared (the leader sent a newer one)
// fails with raft.ErrSnapOutOfDate and changes nothing.
func (s *Storage) CommitSnapshot(p *PreparedSnapshot) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	snap := p.snap
	s.mu.RLock()
	cur := s.snap.Metadata.Index
	t, terr := s.term(snap.Metadata.Index)
	s.mu.RUnlock()
	if snap.Metadata.Index <= cur {
		return raft.ErrSnapOutOfDate
	}
	keep := terr == nil && t == snap.Metadata.Term
	m := log.Marker{Index: snap.Metadata.Index, Term: snap.Metadata.Term, DiscardLog: !keep}
	if err := s.wal.SaveSnapshot(m); err != nil {
		return s.failed(err)
	}
	s.mu.Lock()
	if keep {
		s.ents = slices.Clone(s.ents[snap.Metadata.Index-cur:])
	} else {
		s.ents = nil
	}
	s.snap, s.snapOnDisk = snap, p.onDisk
	s.mu.Unlock()
	if err := s.purgeSnapshots(snap.Metadata.Index); err != nil {
		return s.failed(err)
	}
	return nil
}

// CreateSnapshot saves a snapshot of the state machine at index i, which
// must be in the log (FirstIndex-1 < i <= LastIndex), with membership cs and
// state data, and returns it. It is how a member compacts its own log:
// PrepareSnapshot then CommitSnapshot.
func (s *Storage) CreateSnapshot(i uint64, cs raft.ConfState, data []byte) (raft.Snapshot, error) {
	p, err := s.PrepareSnapshot(i, cs, data)
	if err != nil {
		return raft.Snapshot{}, err
	}
	return p.snap, s.CommitSnapshot(p)
}

// Sync makes everything saved so far durable (for callers that Save with
// mustSync false and sync later).
func (s *Storage) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := s.wal.Sync(); err != nil {
		return s.failed(err)
	}
	return nil
}

// Close closes the WAL (without syncing). Reads keep working on the
// in-memory state; writes return ErrClosed.
func (s *Storage) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if errors.Is(s.err, ErrClosed) {
		return ErrClosed
	}
	s.err = ErrClosed
	err := s.wal.Close()
	if errors.Is(err, log.ErrClosed) {
		err = nil
	}
	return err
}

var _ raft.Storage = (*Storage)(nil)

// notExist reports whether err says a file is missing.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
