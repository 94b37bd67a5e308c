package storage

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// crc32Combine against the CRC of the concatenation.
func TestCRC32Combine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "a")
		b := rapid.SliceOfN(rapid.Byte(), 0, 5000).Draw(t, "b")
		want := crc32.Checksum(append(append([]byte(nil), a...), b...), castagnoli)
		got := crc32Combine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Fatalf("crc32Combine = %08x; want %08x", got, want)
		}
	})
}

// chunked writes data to w in pieces of irregular sizes, as an encoder
// would.
func chunked(data []byte, seed uint64) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 1))
		for len(data) > 0 {
			k := min(len(data), 1+rng.IntN(100<<10))
			if _, err := w.Write(data[:k]); err != nil {
				return err
			}
			data = data[k:]
		}
		return nil
	}
}

func snapData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// tmpFiles lists the snapshot directory's temporary files.
func tmpFiles(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(filepath.Join(dir, "snap"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".tmp") {
			out = append(out, n)
		}
	}
	return out
}

// prepared opens a Storage in dir with entries 1..10 of term 1.
func prepared(t *testing.T, fsys vfs.FS, dir string) *Storage {
	t.Helper()
	s := mustOpen(t, fsys, dir, testOpts())
	if err := s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, 1, 10), true); err != nil {
		t.Fatal(err)
	}
	return s
}

// A streamed snapshot of 64 KiB or more is the file PrepareSnapshot writes
// for the same data, byte for byte; committed, the Storage holds only its
// metadata and Snapshot reads the data back, before and after a restart.
func TestPrepareSnapshotStreamSameFile(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		cs := raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}
		for _, n := range []int{64 << 10, 70001, 3<<20 + 5} {
			data := snapData(n)
			bufDir, streamDir := path.Join(dir, fmt.Sprint("buffered", n)), path.Join(dir, fmt.Sprint("streamed", n))
			sb := prepared(t, fsys, bufDir)
			if _, err := sb.CreateSnapshot(7, cs, data); err != nil {
				t.Fatal(err)
			}
			sb.Close()
			ss := prepared(t, fsys, streamDir)
			p, err := ss.PrepareSnapshotStream(7, cs, chunked(data, uint64(n)))
			if err != nil {
				t.Fatal(err)
			}
			if p.DataLen() != n || p.Snapshot().Data != nil {
				t.Fatalf("prepared: DataLen %d (want %d), %d bytes of data held", p.DataLen(), n, len(p.Snapshot().Data))
			}
			want, _ := vfs.ReadFile(fsys, filepath.Join(bufDir, "snap", snapshotName(7, 1)))
			got, err := vfs.ReadFile(fsys, filepath.Join(streamDir, "snap", snapshotName(7, 1)))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: streamed file (%d bytes, %v) differs from the buffered one (%d bytes)", n, len(got), err, len(want))
			}
			if err := ss.CommitSnapshot(p); err != nil {
				t.Fatal(err)
			}
			ss.mu.RLock()
			held, onDisk := ss.snap.Data, ss.snapOnDisk
			ss.mu.RUnlock()
			if held != nil || !onDisk {
				t.Fatalf("committed stream: %d bytes held, onDisk %v", len(held), onDisk)
			}
			wantSnap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 7, Term: 1, ConfState: cs}, Data: data}
			if snap, err := ss.Snapshot(); err != nil || !reflect.DeepEqual(snap, wantSnap) {
				t.Fatalf("Snapshot after the stream: %v, metadata %+v, %d bytes", err, snap.Metadata, len(snap.Data))
			}
			if first, _ := ss.FirstIndex(); first != 8 {
				t.Fatalf("FirstIndex = %d after the snapshot at 7", first)
			}
			ss.Close()
			ss = mustOpen(t, fsys, streamDir, testOpts())
			if snap, err := ss.Snapshot(); err != nil || !reflect.DeepEqual(snap, wantSnap) {
				t.Fatalf("Snapshot after a restart: %v, metadata %+v, %d bytes", err, snap.Metadata, len(snap.Data))
			}
			ss.Close()
		}
	})
}

// Small snapshots (bin 32 header where PrepareSnapshot writes a bin 8 or
// bin 16, or nil) stream to valid files that Open accepts.
func TestPrepareSnapshotStreamSmall(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := prepared(t, fsys, dir)
		cs := raft.ConfState{Voters: []uint64{3}}
		for i, n := range []int{0, 1, 10, 255, 256, 1000, 65535} {
			data := snapData(n)
			idx := uint64(2 + i)
			p, err := s.PrepareSnapshotStream(idx, cs, chunked(data, 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CommitSnapshot(p); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = mustOpen(t, fsys, dir, testOpts())
			snap, err := s.Snapshot()
			if n == 0 {
				data = nil // decodeSnapshot gives nil for no data
			}
			want := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: idx, Term: 1, ConfState: cs}, Data: data}
			if err != nil || !reflect.DeepEqual(snap, want) {
				t.Fatalf("%d bytes after Open: %v, metadata %+v, %d bytes", n, err, snap.Metadata, len(snap.Data))
			}
		}
		if _, err := s.PrepareSnapshotStream(3, cs, chunked(nil, 1)); !errors.Is(err, raft.ErrSnapOutOfDate) {
			t.Fatalf("a stream below the snapshot: %v", err)
		}
		s.Close()
	})
}

// A write error of the file in the middle of the stream fails the Storage
// (as PrepareSnapshot's would), whether or not the writer passes it on,
// and leaves no temporary file; a restart finds the state before it.
func TestPrepareSnapshotStreamWriteFailure(t *testing.T) {
	for _, swallow := range []bool{false, true} {
		fsys := vfs.NewMem(rand.New(rand.NewPCG(5, 6)))
		dir := "/data/member"
		s := prepared(t, fsys, dir)
		data := snapData(1 << 20)
		_, err := s.PrepareSnapshotStream(8, raft.ConfState{Voters: []uint64{1}}, func(w io.Writer) error {
			if _, err := w.Write(data[:300<<10]); err != nil {
				t.Fatalf("first write: %v", err)
			}
			fsys.FailWrites(1)
			_, err := w.Write(data[300<<10:])
			if err == nil {
				t.Error("the failed write was not reported")
			}
			if swallow {
				return nil
			}
			return err
		})
		if !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("swallow %v: PrepareSnapshotStream: %v", swallow, err)
		}
		if err := s.Save(raft.HardState{Term: 1, Commit: 10}, nil, true); !errors.Is(err, ErrFailed) {
			t.Fatalf("Save after the failure: %v", err)
		}
		if tmp := tmpFiles(t, fsys, dir); len(tmp) != 0 {
			t.Fatalf("left %v", tmp)
		}
		s.Close()
		s = mustOpen(t, fsys, dir, testOpts())
		if snap, _ := s.Snapshot(); !snap.IsEmpty() {
			t.Fatalf("a snapshot after the failed stream: %+v", snap.Metadata)
		}
		if last, _ := s.LastIndex(); last != 10 {
			t.Fatalf("LastIndex %d after restart", last)
		}
		s.Close()
	}
}

// An error of the writer's own is returned as is: the Storage is not
// failed, and the temporary file is gone.
func TestPrepareSnapshotStreamWriterError(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := prepared(t, fsys, dir)
		defer s.Close()
		mine := errors.New("encoder broke")
		_, err := s.PrepareSnapshotStream(8, raft.ConfState{Voters: []uint64{1}}, func(w io.Writer) error {
			_, _ = w.Write(snapData(200 << 10))
			return mine
		})
		if err != mine {
			t.Fatalf("PrepareSnapshotStream: %v", err)
		}
		if tmp := tmpFiles(t, fsys, dir); len(tmp) != 0 {
			t.Fatalf("left %v", tmp)
		}
		if _, err := s.CreateSnapshot(8, raft.ConfState{Voters: []uint64{1}}, []byte("x")); err != nil {
			t.Fatalf("the Storage after a writer's error: %v", err)
		}
	})
}

// A stream that would make the file larger than the limit stops there with
// ErrSnapshotTooLarge, leaving the Storage usable and no file; at exactly
// the limit it is written, as PrepareSnapshot's would be.
func TestPrepareSnapshotStreamTooLarge(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := prepared(t, fsys, dir)
		defer s.Close()
		cs := raft.ConfState{Voters: []uint64{1}}
		data := snapData(70001)
		fileLen := len(encodeSnapshot(s.opts.ClusterID, s.opts.MemberID,
			raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 8, Term: 1, ConfState: cs}, Data: data}))
		s.maxSnapshotFile = fileLen - 1
		if _, err := s.PrepareSnapshotStream(8, cs, chunked(data, 2)); !errors.Is(err, ErrSnapshotTooLarge) {
			t.Fatalf("one byte over the limit: %v", err)
		}
		if _, err := s.PrepareSnapshot(8, cs, data); !errors.Is(err, ErrSnapshotTooLarge) {
			t.Fatalf("PrepareSnapshot one byte over the limit: %v", err)
		}
		if tmp := tmpFiles(t, fsys, dir); len(tmp) != 0 {
			t.Fatalf("left %v", tmp)
		}
		// Far over: the writer is stopped.
		s.maxSnapshotFile = 4096
		_, err := s.PrepareSnapshotStream(8, cs, func(w io.Writer) error {
			for range 100 {
				if _, err := w.Write(snapData(1000)); err != nil {
					return err
				}
			}
			t.Error("the writer was not stopped")
			return nil
		})
		if !errors.Is(err, ErrSnapshotTooLarge) {
			t.Fatalf("far over the limit: %v", err)
		}
		s.maxSnapshotFile = fileLen
		p, err := s.PrepareSnapshotStream(8, cs, chunked(data, 3))
		if err != nil {
			t.Fatalf("at the limit: %v", err)
		}
		if err := s.CommitSnapshot(p); err != nil {
			t.Fatal(err)
		}
		if snap, err := s.Snapshot(); err != nil || !bytes.Equal(snap.Data, data) {
			t.Fatalf("Snapshot: %v, %d bytes", err, len(snap.Data))
		}
	})
}
