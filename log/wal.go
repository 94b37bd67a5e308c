package log

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// Errors returned by the WAL.
var (
	// ErrCorrupt: a record that is not a torn tail is bad; see CorruptError.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrClusterMismatch: the WAL belongs to another cluster; see MismatchError.
	ErrClusterMismatch = errors.New("wal: directory belongs to another cluster")
	// ErrMemberMismatch: the WAL belongs to another member; see MismatchError.
	ErrMemberMismatch = errors.New("wal: directory belongs to another member")
	// ErrFailed: an earlier write or sync failed; the WAL refuses all further
	// writes and must be closed and reopened (which recovers what is durable).
	ErrFailed = errors.New("wal: failed by an earlier write or sync error")
	// ErrClosed: the WAL is closed.
	ErrClosed = errors.New("wal: closed")
	// ErrOutOfOrder: entries passed to Save are not contiguous, or do not
	// start in (snapshot index, last index + 1].
	ErrOutOfOrder = errors.New("wal: entries out of order")
	// ErrTooLarge: an entry does not fit in one record (MaxRecordLen).
	ErrTooLarge = errors.New("wal: entry larger than MaxRecordLen")
	// ErrSnapOutOfDate: a snapshot marker not newer than the last one.
	ErrSnapOutOfDate = errors.New("wal: snapshot marker older than the last one")
)

// MismatchError reports a segment written for another cluster or member.
// errors.Is(err, ErrClusterMismatch) or ErrMemberMismatch holds.
type MismatchError struct {
	File      string
	What      string // "cluster" or "member"
	Want, Got uint64
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("wal: %s belongs to %s %x, not %x", e.File, e.What, e.Got, e.Want)
}

func (e *MismatchError) Unwrap() error {
	if e.What == "cluster" {
		return ErrClusterMismatch
	}
	return ErrMemberMismatch
}

// DefaultSegmentSize is the size at which a segment is closed and a new one
// started.
const DefaultSegmentSize = 64 << 20

// Options configure a WAL.
type Options struct {
	// ClusterID and MemberID are written into every segment header and
	// checked on open.
	ClusterID, MemberID uint64
	// SegmentSize: a new segment starts before a write once the current one
	// has reached this many bytes. 0 means DefaultSegmentSize.
	SegmentSize int64
	// Preallocate fills each new segment with zeros up to SegmentSize
	// before it is used, so that a write and sync later only overwrite
	// blocks the file already has: no block allocation or size change, so
	// no file-system journal commit per sync (on ext4 a sync then costs
	// about half as much). The zeros are written and synced in the
	// background while the previous segment fills (see SpareName).
	// Recovery reads a zero tail as the end.
	Preallocate bool
	// ObserveSync, if set, is told how long each file sync took that a
	// caller of the WAL waits for: a Save's, a roll's, a snapshot
	// marker's. The syncs of the spare filled in the background are left
	// out.
	ObserveSync func(time.Duration)
	// Logger receives recovery and segment events. nil means slog.Default().
	Logger *slog.Logger
}

// State is what a WAL held when it was opened.
type State struct {
	// HardState is the last hard state written (zero if none).
	HardState raft.HardState
	// Snapshot is the last snapshot marker written (zero Index if none).
	Snapshot Marker
	// Entries are the log entries after Snapshot.Index, contiguous, with
	// later writes for an index having replaced earlier ones.
	Entries []raft.Entry
	// Fresh reports that the directory held no WAL and Open created one.
	Fresh bool
}

type segment struct {
	seq, first uint64
	name       string // base name
}

func segmentName(seq, first uint64) string { return fmt.Sprintf("%016x-%016x.wal", seq, first) }

func parseSegmentName(name string) (segment, bool) {
	var s segment
	if !strings.HasSuffix(name, ".wal") || len(name) != 16+1+16+4 {
		return s, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &s.seq, &s.first); err != nil {
		return s, false
	}
	s.name = name
	return s, segmentName(s.seq, s.first) == name
}

// WAL is an open write-ahead log. It is not safe for concurrent use.
type WAL struct {
	fs     vfs.FS
	dir    string
	opts   Options
	logger *slog.Logger

	segs []segment // in seq order; the last is open for appending
	f    vfs.File  // the last segment
	size int64     // bytes in the last segment

	// What the log holds, as a reader of it would see it.
	hs        raft.HardState
	snap      Marker
	lastIndex uint64 // invariant: lastIndex >= snap.Index

	enc *encoder
	err error // sticky: ErrFailed-wrapped cause, or ErrClosed

	// spare is the next segment's file being zero-filled in the background
	// (Preallocate only), nil when none is under way or ready.
	spare *spare
}

// SpareName is the base name of the file in which the next segment is
// zero-filled ahead of need (Options.Preallocate). It ends in .tmp, so Open
// removes a spare that a crash left behind. No write waits for its syncs,
// so a caller timing the WAL's syncs may leave it out.
const SpareName = "spare.wal.tmp"

// spare is a zero-filled file being prepared for the next segment.
type spare struct {
	done    chan struct{} // closed when err is set
	err     error
	abandon atomic.Bool // tells the filling goroutine to stop early
}

// Open opens the WAL in dir (creating dir and a first segment if there is
// none), recovers it and returns what it holds. See the package
// documentation for what recovery does.
func Open(fsys vfs.FS, dir string, opts Options) (*WAL, *State, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &WAL{fs: fsys, dir: dir, opts: opts, logger: opts.Logger, enc: newEncoder()}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, nil, err
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") {
			// A segment that never got its final name, or a spare: never
			// written to.
			w.logger.Info("wal: removing unfinished segment or spare", "file", filepath.Join(dir, name))
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if s, ok := parseSegmentName(name); ok {
			w.segs = append(w.segs, s)
		} else {
			w.logger.Warn("wal: ignoring unknown file", "file", filepath.Join(dir, name))
		}
	}
	if len(w.segs) == 0 {
		if err := fsys.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, nil, err
		}
		if err := w.startSegment(0, 1); err != nil {
			return nil, nil, err
		}
		return w, &State{Fresh: true}, nil
	}
	st, err := w.replay()
	if err != nil {
		return nil, nil, err
	}
	return w, st, nil
}

func (w *WAL) path(name string) string { return filepath.Join(w.dir, name) }

// replayer rebuilds the log from records.
type replayer struct {
	hs   raft.HardState
	snap Marker
	// base is the index before ents[0]. Entries at or below it are not
	// kept: covered by a snapshot or, at the start of a WAL whose first
	// segments were removed, by those segments (and by a marker later on).
	base uint64
	ents []raft.Entry
	// below is where the log ends when it ends at or below base, which
	// happens when a truncation or a discarding marker reaches under base.
	// invariant: below <= base, and below == base if len(ents) > 0.
	below uint64
}

func (r *replayer) last() uint64 {
	if len(r.ents) == 0 {
		return r.below
	}
	return r.base + uint64(len(r.ents))
}

func (w *WAL) replay() (*State, error) {
	var r replayer
	d := newDecoder()
	first := w.segs[0].first
	r.base, r.below = first-1, first-1
	var lastData []byte
	var good int
	for i, seg := range w.segs {
		path := w.path(seg.name)
		data, err := vfs.ReadFile(w.fs, path)
		if err != nil {
			return nil, err
		}
		isLast := i == len(w.segs)-1
		if i > 0 {
			prev := w.segs[i-1]
			if seg.seq != prev.seq+1 || seg.first != r.last()+1 {
				return nil, &CorruptError{File: path, Offset: 0, Err: fmt.Errorf(
					"segment %d starting at index %d does not follow segment %d ending at index %d: a segment is missing or truncated",
					seg.seq, seg.first, prev.seq, r.last())}
			}
		}
		good, err = scanFrames(data, isLast, func(off int, typ RecordType, p []byte) error {
			if (off == 0) != (typ == RecordHeader) {
				return fmt.Errorf("%v record at offset %d: a segment starts with its header and has one", typ, off)
			}
			return w.applyRecord(&r, d, seg, path, typ, p)
		})
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.File = path
				var me *MismatchError
				if errors.As(ce.Err, &me) {
					return nil, me
				}
			}
			return nil, err
		}
		if good == 0 {
			return nil, &CorruptError{File: path, Err: errors.New("segment has no header")}
		}
		lastData = data
	}
	if first > 1 && r.snap.Index < first-1 {
		return nil, &CorruptError{File: w.path(w.segs[0].name), Err: fmt.Errorf(
			"the WAL starts at index %d but the newest snapshot marker is at %d: earlier segments are missing",
			first, r.snap.Index)}
	}
	if r.hs.Commit > r.last() {
		return nil, &CorruptError{File: w.path(w.segs[len(w.segs)-1].name), Err: fmt.Errorf(
			"hard state commit index %d is beyond the last entry %d: the end of the WAL is missing",
			r.hs.Commit, r.last())}
	}

	lastSeg := w.segs[len(w.segs)-1]
	f, err := w.fs.OpenWrite(w.path(lastSeg.name))
	if err != nil {
		return nil, err
	}
	if good < len(lastData) && !(w.opts.Preallocate && allZero(lastData[good:])) {
		w.logger.Warn("wal: cutting torn tail", "file", w.path(lastSeg.name),
			"offset", good, "bytes", len(lastData)-good)
		err := f.Truncate(int64(good))
		if err == nil {
			err = w.sync(f)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	w.f, w.size = f, int64(good)
	w.hs, w.snap, w.lastIndex = r.hs, r.snap, r.last()
	return &State{HardState: r.hs, Snapshot: r.snap, Entries: r.ents}, nil
}

// applyRecord applies one record to the replay.
func (w *WAL) applyRecord(r *replayer, d *decoder, seg segment, path string, typ RecordType, p []byte) error {
	switch typ {
	case RecordHeader:
		h, err := d.header(p)
		if err != nil {
			return err
		}
		if h.ClusterID != w.opts.ClusterID {
			return &MismatchError{File: path, What: "cluster", Want: w.opts.ClusterID, Got: h.ClusterID}
		}
		if h.MemberID != w.opts.MemberID {
			return &MismatchError{File: path, What: "member", Want: w.opts.MemberID, Got: h.MemberID}
		}
		if h.Seq != seg.seq || h.FirstIndex != seg.first {
			return fmt.Errorf("header says segment %d at index %d, the file name says %d at %d",
				h.Seq, h.FirstIndex, seg.seq, seg.first)
		}
	case RecordEntry:
		e, err := d.entry(p)
		if err != nil {
			return err
		}
		switch {
		case e.Index > r.last()+1:
			return fmt.Errorf("entry %d follows last index %d: a gap", e.Index, r.last())
		case e.Index <= r.base:
			// The entry itself is covered, but it truncated the log:
			// whatever followed it is gone. (Only seen at the start of a
			// WAL whose first segments were removed; Save refuses
			// entries at or below the snapshot.)
			r.ents, r.below = r.ents[:0:0], e.Index
		default:
			r.ents = append(r.ents[:e.Index-r.base-1], e)
		}
	case RecordHardState:
		hs, err := d.hardState(p)
		if err != nil {
			return err
		}
		r.hs = hs
	case RecordSnapshot:
		m, err := d.marker(p)
		if err != nil {
			return err
		}
		if m.Index > r.snap.Index {
			r.snap = m
		}
		if m.Index < r.base {
			// An older marker repeated at the start of a segment, or one
			// inside the region the removed segments covered.
			if m.DiscardLog {
				r.ents, r.below = r.ents[:0:0], m.Index
			}
			return nil
		}
		if m.DiscardLog {
			r.ents = nil
		} else {
			if m.Index > r.last() {
				return fmt.Errorf("snapshot marker at %d keeps the log but the log ends at %d", m.Index, r.last())
			}
			r.ents = r.ents[m.Index-r.base:]
		}
		r.base, r.below = m.Index, m.Index
	default:
		return fmt.Errorf("%v record in a WAL segment", typ)
	}
	return nil
}

// startSegment writes a new segment seq starting at index first: under a
// temporary name, header and the current hard state and snapshot marker
// (so that every segment is self-sufficient once older ones are removed),
// synced, renamed, directory synced. Then it becomes the segment appended to.
func (w *WAL) startSegment(seq, first uint64) error {
	name := segmentName(seq, first)
	e := w.enc
	e.a.B = e.a.B[:0]
	e.header(Header{ClusterID: w.opts.ClusterID, MemberID: w.opts.MemberID, Seq: seq, FirstIndex: first})
	if !w.hs.IsEmpty() {
		e.hardState(w.hs)
	}
	if w.snap.Index > 0 {
		e.marker(Marker{Index: w.snap.Index, Term: w.snap.Term})
	}
	var p *vfs.PendingFile
	var err error
	if f := w.takeSpare(); f != nil {
		// The spare is SegmentSize zeros already synced: writing the
		// header over its start makes it what the code below would build.
		p = vfs.NewPendingFile(w.fs, f, w.path(name))
		_, err = p.WriteAt(e.a.B, 0)
	} else {
		if p, err = vfs.CreatePending(w.fs, w.path(name)); err != nil {
			return err
		}
		_, err = p.Write(e.a.B)
		if w.opts.Preallocate && err == nil {
			err = writeZeros(p, w.opts.SegmentSize-int64(len(e.a.B)), nil)
		}
	}
	p.ObserveSync = w.opts.ObserveSync // timed as w.sync times
	if err == nil {
		err = p.Commit()
	}
	if err != nil {
		// Not renamed (Discard leaves a renamed file alone: only the
		// directory sync failed): no use to anyone, and it may hold
		// SegmentSize bytes of a nearly full disk.
		_ = p.Discard()
		return err
	}
	nf, err := w.fs.OpenWrite(w.path(name))
	if err != nil {
		return err
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.size = nf, int64(len(e.a.B))
	w.segs = append(w.segs, segment{seq: seq, first: first, name: name})
	w.logger.Debug("wal: new segment", "file", w.path(name))
	return nil
}

// writeZeros writes n zero bytes to f, at most 1 MiB at a time (and no
// more than n: small segments in tests). A background fill (abandon not
// nil) checks abandon between writes and syncs every spareSyncEvery bytes:
// 64 MiB of dirty pages written back in one burst would slow the syncs of
// the segment in use meanwhile (p99.9 write latency of a 3-member cluster
// under load went from about 40 ms to about 65 ms without the steps).
func writeZeros(f vfs.File, n int64, abandon *atomic.Bool) error {
	zeros := make([]byte, min(max(n, 0), 1<<20))
	var unsynced int64
	for n > 0 {
		if abandon != nil && abandon.Load() {
			return errors.New("wal: spare segment abandoned")
		}
		k, err := f.Write(zeros[:min(n, int64(len(zeros)))])
		if err != nil {
			return err
		}
		n -= int64(k)
		unsynced += int64(k)
		if abandon != nil && unsynced >= spareSyncEvery && n > 0 {
			if err := f.Sync(); err != nil {
				return err
			}
			unsynced = 0
		}
	}
	return nil
}

// spareSyncEvery is the step in which a spare is synced as it is filled.
const spareSyncEvery = 4 << 20

// maybePrepareSpare starts zero-filling the next segment's file in the
// background once the last segment is half full (Preallocate only), so
// that a roll does not write and sync SegmentSize bytes on the caller's
// path. Half full, not at once, so that a short-lived WAL (a test, a
// member that is removed) never pays for a segment it will not use.
func (w *WAL) maybePrepareSpare() {
	if !w.opts.Preallocate || w.spare != nil || w.size < w.opts.SegmentSize/2 {
		return
	}
	sp := &spare{done: make(chan struct{})}
	w.spare = sp
	// Create here, on the WAL's goroutine, so that the file exists before
	// anything else (a reopen after a crash) can look for it.
	f, err := w.fs.Create(w.path(SpareName))
	if err != nil {
		sp.err = err
		close(sp.done)
		return
	}
	go func() {
		err := writeZeros(f, w.opts.SegmentSize, &sp.abandon)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		sp.err = err
		close(sp.done)
	}()
}

// takeSpare waits for the spare being prepared, if any, and opens it for
// writing. It returns nil when there is no usable spare: the caller then
// creates the segment itself, as without one.
func (w *WAL) takeSpare() vfs.File {
	sp := w.spare
	if sp == nil {
		return nil
	}
	w.spare = nil
	<-sp.done
	if sp.err == nil {
		f, err := w.fs.OpenWrite(w.path(SpareName))
		if err == nil {
			return f
		}
		sp.err = err
	}
	w.logger.Warn("wal: preparing the next segment ahead failed; creating it now", "err", sp.err)
	// Its space may be what the segment created instead needs.
	_ = w.fs.Remove(w.path(SpareName))
	return nil
}

// roll closes the full last segment (synced) and starts the next one.
// A preallocated segment is cut to what was written first, so that only
// the last segment ever ends in zeros.
func (w *WAL) roll() error {
	if sz, err := w.f.Size(); err != nil {
		return err
	} else if sz > w.size {
		if err := w.f.Truncate(w.size); err != nil {
			return err
		}
	}
	if err := w.sync(w.f); err != nil {
		return err
	}
	return w.startSegment(w.segs[len(w.segs)-1].seq+1, w.lastIndex+1)
}

// sync syncs f, a file a caller waits for (Options.ObserveSync).
func (w *WAL) sync(f vfs.File) error { return vfs.SyncTimed(f, w.opts.ObserveSync) }

func (w *WAL) fail(err error) error {
	w.err = fmt.Errorf("%w: %w", ErrFailed, err)
	return w.err
}

// Save appends one batch: ents (contiguous; the first may be at or below
// the last index, which truncates the log there) and then hs (skipped if
// empty or unchanged). If sync is true the batch is durable when Save
// returns, at the cost of exactly one file sync (plus three when the batch
// starts a new segment). A failed write or sync fails the WAL (ErrFailed).
func (w *WAL) Save(hs raft.HardState, ents []raft.Entry, sync bool) error {
	if w.err != nil {
		return w.err
	}
	if len(ents) > 0 {
		if ents[0].Index <= w.snap.Index || ents[0].Index > w.lastIndex+1 {
			return fmt.Errorf("%w: first entry %d, snapshot at %d, last index %d",
				ErrOutOfOrder, ents[0].Index, w.snap.Index, w.lastIndex)
		}
		for i := range ents {
			if i > 0 && ents[i].Index != ents[i-1].Index+1 {
				return fmt.Errorf("%w: entry %d follows %d", ErrOutOfOrder, ents[i].Index, ents[i-1].Index)
			}
			// 64 bytes bound the array, integers and bin header.
			if len(ents[i].Data) > MaxRecordLen-64 {
				return fmt.Errorf("%w: entry %d has %d bytes", ErrTooLarge, ents[i].Index, len(ents[i].Data))
			}
		}
	}
	writeHS := !hs.IsEmpty() && hs != w.hs
	if len(ents) > 0 || writeHS {
		if w.size >= w.opts.SegmentSize {
			if err := w.roll(); err != nil {
				return w.fail(err)
			}
		}
		e := w.enc
		e.a.B = e.a.B[:0]
		for i := range ents {
			e.entry(&ents[i])
		}
		if writeHS {
			e.hardState(hs)
		}
		if _, err := w.f.WriteAt(e.a.B, w.size); err != nil {
			return w.fail(err)
		}
		w.size += int64(len(e.a.B))
		if len(e.a.B) > 1<<20 {
			e.a.B = nil // do not pin a huge buffer
		}
		if len(ents) > 0 {
			w.lastIndex = ents[len(ents)-1].Index
		}
		if writeHS {
			w.hs = hs
		}
		w.maybePrepareSpare()
	}
	if sync {
		return w.Sync()
	}
	return nil
}

// Sync makes every record written so far durable.
func (w *WAL) Sync() error {
	if w.err != nil {
		return w.err
	}
	if err := w.sync(w.f); err != nil {
		return w.fail(err)
	}
	return nil
}

// SaveSnapshot records, durably, that a snapshot at (m.Index, m.Term) has
// been saved (the snapshot itself must already be durable elsewhere), then
// removes the segments wholly below m.Index. m.DiscardLog says whether the
// log after m.Index is dropped (it did not match the snapshot) or kept.
func (w *WAL) SaveSnapshot(m Marker) error {
	if w.err != nil {
		return w.err
	}
	if m.Index <= w.snap.Index {
		return fmt.Errorf("%w: %d <= %d", ErrSnapOutOfDate, m.Index, w.snap.Index)
	}
	if !m.DiscardLog && m.Index > w.lastIndex {
		return fmt.Errorf("%w: marker at %d keeps a log that ends at %d", ErrOutOfOrder, m.Index, w.lastIndex)
	}
	if w.size >= w.opts.SegmentSize {
		if err := w.roll(); err != nil {
			return w.fail(err)
		}
	}
	e := w.enc
	e.a.B = e.a.B[:0]
	e.marker(m)
	if _, err := w.f.WriteAt(e.a.B, w.size); err != nil {
		return w.fail(err)
	}
	w.size += int64(len(e.a.B))
	if err := w.sync(w.f); err != nil {
		return w.fail(err)
	}
	w.maybePrepareSpare()
	w.snap = m
	if m.DiscardLog {
		w.lastIndex = m.Index
	}
	return w.removeBelow(m.Index)
}

// removeBelow removes the segments all of whose entries are at or below
// index: those followed by a segment that starts at or below index+1. The
// last segment is never removed. Oldest first, so that a crash part-way
// leaves a suffix of the segments.
func (w *WAL) removeBelow(index uint64) error {
	n := 0
	for n+1 < len(w.segs) && w.segs[n+1].first <= index+1 {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, s := range w.segs[:n] {
		if err := w.fs.Remove(w.path(s.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		w.logger.Debug("wal: removed segment", "file", w.path(s.name))
	}
	w.segs = append(w.segs[:0:0], w.segs[n:]...)
	return w.fs.SyncDir(w.dir)
}

// Segments returns the base names of the WAL's segment files, oldest first.
func (w *WAL) Segments() []string {
	out := make([]string, len(w.segs))
	for i, s := range w.segs {
		out[i] = s.name
	}
	return out
}

// Close closes the WAL without syncing; records not yet synced may be lost
// at a crash. Further calls return ErrClosed.
func (w *WAL) Close() error {
	if errors.Is(w.err, ErrClosed) {
		return ErrClosed
	}
	w.err = ErrClosed
	if sp := w.spare; sp != nil {
		// A spare is only worth its space to this WAL: stop filling it and
		// remove it (a reopen would remove it anyway, as a .tmp file).
		w.spare = nil
		sp.abandon.Store(true)
		<-sp.done
		_ = w.fs.Remove(w.path(SpareName))
	}
	return w.f.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
