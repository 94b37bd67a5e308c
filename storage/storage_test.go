package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

var quiet = slog.New(slog.DiscardHandler)

func testOpts() Options {
	return Options{ClusterID: 0xabc, MemberID: 3, SegmentSize: 1024, SnapshotsKept: 2, Logger: quiet}
}

func eachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, vfs.OS(), filepath.Join(t.TempDir(), "member")) })
	t.Run("mem", func(t *testing.T) { fn(t, vfs.NewMem(rand.New(rand.NewPCG(3, 4))), "/data/member") })
}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustOpen(t fataler, fsys vfs.FS, dir string, o Options) *Storage {
	t.Helper()
	s, err := Open(fsys, dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func ents(term, lo, hi uint64) []raft.Entry {
	var out []raft.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, raft.Entry{Term: term, Index: i, Data: []byte(fmt.Sprintf("e%d/%d", i, term))})
	}
	return out
}

func allEntries(t fataler, s *Storage) []raft.Entry {
	t.Helper()
	fi, _ := s.FirstIndex()
	li, _ := s.LastIndex()
	if li < fi {
		return nil
	}
	es, err := s.Entries(fi, li+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", fi, li+1, err)
	}
	return es
}

func TestSaveReopenRestoresEverything(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		if !s.Fresh() {
			t.Fatal("new directory not Fresh")
		}
		hs := raft.HardState{Term: 2, Vote: 3, Commit: 30}
		if err := s.Save(raft.HardState{Term: 1, Vote: 1}, ents(1, 1, 40), true); err != nil {
			t.Fatal(err)
		}
		cs := raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
		snap, err := s.CreateSnapshot(25, cs, []byte("state at 25"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(hs, ents(2, 35, 50), true); err != nil {
			t.Fatal(err)
		}
		want := append(ents(1, 26, 34), ents(2, 35, 50)...)
		if got := allEntries(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("before reopen: %d entries, want %d", len(got), len(want))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(hs, nil, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Save after Close: %v", err)
		}

		s = mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		if s.Fresh() {
			t.Fatal("reopened directory reported Fresh")
		}
		gotHS, gotCS, _ := s.InitialState()
		if gotHS != hs || !reflect.DeepEqual(gotCS, cs) {
			t.Fatalf("InitialState = %+v %+v; want %+v %+v", gotHS, gotCS, hs, cs)
		}
		gotSnap, _ := s.Snapshot()
		if !reflect.DeepEqual(gotSnap, snap) {
			t.Fatalf("Snapshot = %+v; want %+v", gotSnap, snap)
		}
		if fi, _ := s.FirstIndex(); fi != 26 {
			t.Fatalf("FirstIndex = %d", fi)
		}
		if term, err := s.Term(25); err != nil || term != 1 {
			t.Fatalf("Term(25) = %d, %v", term, err)
		}
		if _, err := s.Term(24); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Term(24): %v", err)
		}
		if _, err := s.Entries(26, 52, 100); !errors.Is(err, raft.ErrUnavailable) {
			t.Fatalf("Entries past the end: %v", err)
		}
		if got := allEntries(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopen: %d entries, want %d", len(got), len(want))
		}
		if got, _ := s.Entries(26, 51, 12); len(got) != 2 {
			t.Fatalf("maxSize 12 with 6-byte entries gave %d entries; want 2", len(got))
		}
	})
}

func TestLeaderSnapshotDiscardsConflictingLog(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		_ = s.Save(raft.HardState{Term: 1, Commit: 5}, ents(1, 1, 10), true)
		// The leader's snapshot at 8 is from term 3: our 6..10 are stale.
		snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 8, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1}}}}
		if err := s.SaveSnapshot(snap); err != nil {
			t.Fatal(err)
		}
		if li, _ := s.LastIndex(); li != 8 {
			t.Fatalf("LastIndex = %d after a mismatching snapshot; want 8", li)
		}
		if err := s.SaveSnapshot(snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
			t.Fatalf("same snapshot again: %v", err)
		}
		// A matching snapshot keeps the entries after it.
		_ = s.Save(raft.HardState{Term: 3, Commit: 8}, ents(3, 9, 12), true)
		if _, err := s.CreateSnapshot(10, raft.ConfState{Voters: []uint64{1}}, nil); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		if got := allEntries(t, s); !reflect.DeepEqual(got, ents(3, 11, 12)) {
			t.Fatalf("entries after reopen: %+v", got)
		}
	})
}

func TestEntriesSurviveLaterTruncation(t *testing.T) {
	s := mustOpen(t, vfs.NewMem(rand.New(rand.NewPCG(1, 1))), "/m", testOpts())
	_ = s.Save(raft.HardState{}, ents(1, 1, 10), false)
	before, _ := s.Entries(3, 11, 1<<20)
	snapshot := slices.Clone(before)
	_ = s.Save(raft.HardState{}, ents(2, 5, 12), false)
	if !reflect.DeepEqual(before, snapshot) {
		t.Fatal("a slice returned by Entries changed under a later truncation")
	}
	if term, _ := s.Term(5); term != 2 {
		t.Fatalf("Term(5) = %d after truncation; want 2", term)
	}
}

func TestForeignDirectoryRefused(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		_ = s.Save(raft.HardState{Term: 1}, ents(1, 1, 3), true)
		_, _ = s.CreateSnapshot(2, raft.ConfState{}, []byte("x"))
		s.Close()
		o := testOpts()
		o.ClusterID++
		if _, err := Open(fsys, dir, o); !errors.Is(err, ErrClusterMismatch) {
			t.Fatalf("other cluster: %v", err)
		}
		o = testOpts()
		o.MemberID++
		if _, err := Open(fsys, dir, o); !errors.Is(err, ErrMemberMismatch) {
			t.Fatalf("other member: %v", err)
		}
	})
}

func TestSnapshotFileDamage(t *testing.T) {
	setup := func(t *testing.T, fsys vfs.FS, dir string) string {
		s := mustOpen(t, fsys, dir, testOpts())
		_ = s.Save(raft.HardState{Term: 1}, ents(1, 1, 5), true)
		if _, err := s.CreateSnapshot(4, raft.ConfState{Voters: []uint64{3}}, []byte("snapshot data")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return filepath.Join(dir, "snap", snapshotName(4, 1))
	}
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		p := setup(t, fsys, dir)
		b, _ := vfs.ReadFile(fsys, p)
		b[len(b)-9] ^= 0x01
		_ = vfs.WriteFile(fsys, p, b)
		_, err := Open(fsys, dir, testOpts())
		var se *SnapshotError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &se) || se.File != p {
			t.Fatalf("flipped bit in snapshot: %v", err)
		}
		_ = fsys.Remove(p)
		if _, err := Open(fsys, dir, testOpts()); !errors.Is(err, ErrSnapshotMissing) {
			t.Fatalf("missing snapshot: %v", err)
		}
	})
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		setup(t, fsys, dir)
		names, _ := fsys.ReadDir(filepath.Join(dir, "wal"))
		for _, n := range names {
			_ = fsys.Remove(filepath.Join(dir, "wal", n))
		}
		for range 2 { // and the first refusal changed nothing
			if _, err := Open(fsys, dir, testOpts()); !errors.Is(err, ErrWALMissing) {
				t.Fatalf("snapshots without a WAL: %v", err)
			}
		}
	})
}

func TestOrphanSnapshotIgnoredAndOldOnesPurged(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		_ = s.Save(raft.HardState{Term: 1}, ents(1, 1, 20), true)
		for _, i := range []uint64{4, 8, 12, 16} {
			if _, err := s.CreateSnapshot(i, raft.ConfState{}, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		names, _ := fsys.ReadDir(filepath.Join(dir, "snap"))
		if want := []string{snapshotName(12, 1), snapshotName(16, 1)}; !slices.Equal(names, want) {
			t.Fatalf("snapshot files %v; want the newest 2 %v", names, want)
		}
		s.Close()
		// A snapshot file whose WAL marker never made it (crash between).
		orphan := filepath.Join(dir, "snap", snapshotName(19, 1))
		_ = vfs.WriteFile(fsys, orphan, encodeSnapshot(0xabc, 3, raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 19, Term: 1}}))
		s = mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		if snap, _ := s.Snapshot(); snap.Metadata.Index != 16 || !bytes.Equal(snap.Data, []byte{16}) {
			t.Fatalf("loaded snapshot %+v; want the marked one at 16", snap.Metadata)
		}
		if _, err := fsys.Open(orphan); err == nil {
			t.Fatal("orphan snapshot not removed")
		}
	})
}

func TestFailedSyncFailsStorageUntilReopen(t *testing.T) {
	m := vfs.NewMem(rand.New(rand.NewPCG(8, 8)))
	s := mustOpen(t, m, "/m", testOpts())
	_ = s.Save(raft.HardState{Term: 1, Commit: 2}, ents(1, 1, 3), true)
	m.FailSyncs(1)
	if err := s.Save(raft.HardState{}, ents(1, 4, 4), true); !errors.Is(err, ErrFailed) {
		t.Fatalf("failing sync: %v", err)
	}
	if li, _ := s.LastIndex(); li != 3 {
		t.Fatalf("an entry whose sync failed became visible: LastIndex %d", li)
	}
	if _, err := s.CreateSnapshot(2, raft.ConfState{}, nil); !errors.Is(err, ErrFailed) {
		t.Fatalf("snapshot after failure: %v", err)
	}
	m.Crash()
	s = mustOpen(t, m, "/m", testOpts())
	if li, _ := s.LastIndex(); li < 3 {
		t.Fatalf("synced entries lost: LastIndex %d", li)
	}
	if err := s.Save(raft.HardState{}, ents(2, 4, 5), true); err != nil {
		t.Fatalf("Save after reopen: %v", err)
	}
}

func TestSaveRejectsGapWithoutFailing(t *testing.T) {
	s := mustOpen(t, vfs.NewMem(rand.New(rand.NewPCG(1, 1))), "/m", testOpts())
	if err := s.Save(raft.HardState{}, ents(1, 3, 4), true); !errors.Is(err, log.ErrOutOfOrder) {
		t.Fatalf("gap: %v", err)
	}
	if err := s.Save(raft.HardState{}, ents(1, 1, 4), true); err != nil {
		t.Fatalf("a rejected batch failed the storage: %v", err)
	}
}

// A snapshot prepared on another goroutine while the writer keeps saving is
// committed later; one overtaken by a newer snapshot is refused and leaves
// the log alone.
func TestPrepareSnapshotConcurrentWithSaves(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		if err := s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, 1, 10), true); err != nil {
			t.Fatal(err)
		}
		cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
		prepared := make(chan *PreparedSnapshot, 1)
		errc := make(chan error, 1)
		go func() {
			p, err := s.PrepareSnapshot(8, cs, []byte("state at 8"))
			errc <- err
			prepared <- p
		}()
		for i := uint64(11); i <= 60; i += 10 {
			if err := s.Save(raft.HardState{Term: 1, Commit: i}, ents(1, i, i+9), true); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		p := <-prepared
		if fi, _ := s.FirstIndex(); fi != 1 {
			t.Fatalf("FirstIndex %d before the commit; a prepared snapshot must not compact", fi)
		}
		if err := s.CommitSnapshot(p); err != nil {
			t.Fatal(err)
		}
		if got := allEntries(t, s); !reflect.DeepEqual(got, ents(1, 9, 60)) {
			t.Fatalf("after the commit: entries %d..%d", got[0].Index, got[len(got)-1].Index)
		}
		// Prepared at 20, overtaken by a leader's snapshot at 30.
		p, err := s.PrepareSnapshot(20, cs, []byte("state at 20"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 30, Term: 1, ConfState: cs}, Data: []byte("30")}); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitSnapshot(p); !errors.Is(err, raft.ErrSnapOutOfDate) {
			t.Fatalf("overtaken snapshot committed: %v", err)
		}
		if fi, _ := s.FirstIndex(); fi != 31 {
			t.Fatalf("FirstIndex %d; want 31", fi)
		}
		s.Close()
		s = mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		if snap, _ := s.Snapshot(); snap.Metadata.Index != 30 {
			t.Fatalf("reopened at snapshot %d; want 30", snap.Metadata.Index)
		}
		if got := allEntries(t, s); !reflect.DeepEqual(got, ents(1, 31, 60)) {
			t.Fatalf("after reopen: %d entries", len(got))
		}
	})
}

// A purge counts only snapshots the log has taken: a newer file still being
// prepared is neither kept in place of the current snapshot nor removed.
// Keeping one snapshot used to let a prepared file crowd out the snapshot
// the WAL's marker names, leaving a directory that would not open.
func TestPurgeKeepsTheMarkedSnapshotBesidePreparedOnes(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		o := testOpts()
		o.SnapshotsKept = 1
		s := mustOpen(t, fsys, dir, o)
		if err := s.Save(raft.HardState{Term: 1, Commit: 30}, ents(1, 1, 30), true); err != nil {
			t.Fatal(err)
		}
		cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
		if _, err := s.PrepareSnapshot(20, cs, []byte("state at 20")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSnapshot(10, cs, []byte("state at 10")); err != nil {
			t.Fatal(err)
		}
		names, _ := fsys.ReadDir(filepath.Join(dir, "snap"))
		if want := []string{snapshotName(10, 1), snapshotName(20, 1)}; !slices.Equal(names, want) {
			t.Fatalf("snapshot files %v; want the marked one and the prepared one %v", names, want)
		}
		// The member crashes before committing the prepared snapshot.
		s.Close()
		s = mustOpen(t, fsys, dir, o)
		defer s.Close()
		if snap, _ := s.Snapshot(); snap.Metadata.Index != 10 || string(snap.Data) != "state at 10" {
			t.Fatalf("reopened at snapshot %d (%q); want 10", snap.Metadata.Index, snap.Data)
		}
	})
}

// DropSnapshotData leaves the snapshot's data in its file: Snapshot reads
// it back (the same snapshot), concurrent callers share one read, a
// damaged file is an error rather than a wrong snapshot, and a newer
// snapshot is held in memory again until the next drop.
func TestDropSnapshotData(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		s.DropSnapshotData() // no snapshot: nothing to drop
		if snap, err := s.Snapshot(); err != nil || !snap.IsEmpty() {
			t.Fatalf("no snapshot yet: %+v %v", snap, err)
		}
		if err := s.Save(raft.HardState{Term: 1, Commit: 9}, ents(1, 1, 10), true); err != nil {
			t.Fatal(err)
		}
		cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
		want, err := s.CreateSnapshot(6, cs, []byte("state at 6"))
		if err != nil {
			t.Fatal(err)
		}
		s.DropSnapshotData()
		s.mu.RLock()
		held := s.snap.Data
		s.mu.RUnlock()
		if held != nil {
			t.Fatal("the data is still held after DropSnapshotData")
		}
		if md := s.SnapshotMetadata(); !reflect.DeepEqual(md, want.Metadata) {
			t.Fatalf("SnapshotMetadata = %+v; want %+v", md, want.Metadata)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if got, err := s.Snapshot(); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("Snapshot after the drop = %+v, %v; want %+v", got, err, want)
				}
			})
		}
		wg.Wait()
		// Held again: damage to the file no longer matters until a drop.
		p := filepath.Join(dir, "snap", snapshotName(6, 1))
		b, _ := vfs.ReadFile(fsys, p)
		b[len(b)-9] ^= 0x01
		_ = vfs.WriteFile(fsys, p, b)
		if got, err := s.Snapshot(); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("held snapshot = %+v, %v", got, err)
		}
		s.DropSnapshotData()
		if _, err := s.Snapshot(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged file read back: %v", err)
		}
		next, err := s.CreateSnapshot(9, cs, []byte("state at 9"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Snapshot(); err != nil || !reflect.DeepEqual(got, next) {
			t.Fatalf("newer snapshot = %+v, %v; want %+v", got, err, next)
		}
	})
}
