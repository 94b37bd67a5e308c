package log

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// Realistic damage, after etcd's server/storage/wal/repair_test.go: each case
// builds a WAL of several segments, damages one file, and checks that open
// either repairs a torn tail (and loses only the torn records) or refuses
// with the file and offset named and nothing rewritten.

// frameOffsets returns the offsets of the frames in a segment's bytes.
func frameOffsets(t *testing.T, data []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off < len(data); {
		_, _, n, err := DecodeFrame(data[off:])
		if err != nil {
			t.Fatalf("frame at %d: %v", off, err)
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

// buildWAL writes 3 segments' worth of single-entry batches with 300-byte
// payloads (frames straddle sector boundaries) and returns the segment paths
// and the entries written.
func buildWAL(t *testing.T, fsys vfs.FS, dir string) ([]string, []raft.Entry) {
	t.Helper()
	w, _ := mustOpen(t, fsys, dir, opts(2048))
	var all []raft.Entry
	for i := uint64(1); len(w.Segments()) < 3 || i < 20; i++ {
		e := raft.Entry{Term: 1, Index: i, Data: bytes.Repeat([]byte{byte(i)}, 300)}
		if err := w.Save(raft.HardState{Term: 1}, []raft.Entry{e}, true); err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	var paths []string
	for _, s := range w.Segments() {
		paths = append(paths, filepath.Join(dir, s))
	}
	w.Close()
	return paths, all
}

func readAll(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entriesIn counts the entry records in a segment's bytes before offset end.
func entriesIn(t *testing.T, data []byte, end int) int {
	n := 0
	for _, off := range frameOffsets(t, data) {
		if typ, _, _, _ := DecodeFrame(data[off:]); off < end && typ == RecordEntry {
			n++
		}
	}
	return n
}

func countEntries(t *testing.T, fsys vfs.FS, paths []string) int {
	n := 0
	for _, p := range paths {
		b := readAll(t, fsys, p)
		n += entriesIn(t, b, len(b))
	}
	return n
}

func TestTornLastRecordStraddlingSectors(t *testing.T) {
	for _, zeros := range []bool{false, true} {
		eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
			paths, all := buildWAL(t, fsys, dir)
			last := paths[len(paths)-1]
			data := readAll(t, fsys, last)
			offs := frameOffsets(t, data)
			// The last frame that crosses a sector boundary.
			var start, boundary int
			for _, off := range offs {
				_, _, n, _ := DecodeFrame(data[off:])
				if b := (off/sectorSize + 1) * sectorSize; b < off+n {
					start, boundary = off, b
				}
			}
			if boundary == 0 {
				t.Fatal("no frame straddles a sector")
			}
			torn := bytes.Clone(data[:boundary])
			if zeros { // the next sectors were allocated but never written
				torn = append(torn, make([]byte, len(data)-boundary)...)
			}
			if err := vfs.WriteFile(fsys, last, torn); err != nil {
				t.Fatal(err)
			}
			kept := countEntries(t, fsys, paths[:len(paths)-1]) + entriesIn(t, data, start)

			w, st, err := Open(fsys, dir, opts(2048))
			if err != nil {
				t.Fatalf("open with a torn tail: %v", err)
			}
			if !reflect.DeepEqual(st.Entries, all[:kept]) {
				t.Fatalf("recovered %d entries; want the %d before the torn record", len(st.Entries), kept)
			}
			if got := readAll(t, fsys, last); !bytes.Equal(got, data[:start]) {
				t.Fatalf("the tail was not cut at %d: file is %d bytes", start, len(got))
			}
			// The repaired WAL takes new writes and replays them.
			next := raft.Entry{Term: 2, Index: uint64(kept) + 1, Data: []byte("after repair")}
			if err := w.Save(raft.HardState{Term: 2}, []raft.Entry{next}, true); err != nil {
				t.Fatal(err)
			}
			w.Close()
			_, st2 := mustOpen(t, fsys, dir, opts(2048))
			if want := append(all[:kept:kept], next); !reflect.DeepEqual(st2.Entries, want) {
				t.Fatalf("after repair and append: %s", indexes(st2.Entries))
			}
		})
	}
}

// expectCorrupt opens dir, expects a CorruptError naming file (and offset,
// unless off < 0), and checks that no file in paths was modified.
func expectCorrupt(t *testing.T, fsys vfs.FS, dir string, paths []string, file string, off int64) {
	t.Helper()
	before := map[string][]byte{}
	for _, p := range paths {
		if b, err := vfs.ReadFile(fsys, p); err == nil {
			before[p] = b
		}
	}
	_, _, err := Open(fsys, dir, opts(2048))
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v; want a CorruptError", err)
	}
	if ce.File != file || (off >= 0 && ce.Offset != off) {
		t.Fatalf("error names %s@%d; want %s@%d (%v)", ce.File, ce.Offset, file, off, err)
	}
	for p, b := range before {
		if after, _ := vfs.ReadFile(fsys, p); !bytes.Equal(after, b) {
			t.Fatalf("open modified %s", p)
		}
	}
}

func TestZeroedRecordInTheMiddle(t *testing.T) {
	for _, which := range []string{"first", "last"} {
		eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
			paths, _ := buildWAL(t, fsys, dir)
			p := paths[0]
			if which == "last" {
				p = paths[len(paths)-1]
			}
			data := readAll(t, fsys, p)
			offs := frameOffsets(t, data)
			victim := offs[len(offs)/2]
			_, _, n, _ := DecodeFrame(data[victim:])
			clear(data[victim : victim+n])
			if err := vfs.WriteFile(fsys, p, data); err != nil {
				t.Fatal(err)
			}
			expectCorrupt(t, fsys, dir, paths, p, int64(victim))
		})
	}
}

func TestFlippedBitInPayload(t *testing.T) {
	for _, which := range []int{0, 2} {
		eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
			paths, _ := buildWAL(t, fsys, dir)
			p := paths[which]
			data := readAll(t, fsys, p)
			offs := frameOffsets(t, data)
			victim := offs[1] // an entry or hard state, not the header
			data[victim+FrameHeaderSize+3] ^= 0x04
			if err := vfs.WriteFile(fsys, p, data); err != nil {
				t.Fatal(err)
			}
			expectCorrupt(t, fsys, dir, paths, p, int64(victim))
		})
	}
}

func TestTruncatedSegment(t *testing.T) {
	for _, atBoundary := range []bool{false, true} {
		eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
			paths, _ := buildWAL(t, fsys, dir)
			data := readAll(t, fsys, paths[0])
			offs := frameOffsets(t, data)
			cut := offs[len(offs)-1] + 13 // inside the last frame
			want := int64(offs[len(offs)-1])
			file := paths[0]
			if atBoundary {
				// Whole records missing: caught when the next segment does
				// not continue where this one ends.
				cut, want, file = offs[len(offs)-2], 0, paths[1]
			}
			if err := vfs.WriteFile(fsys, paths[0], data[:cut]); err != nil {
				t.Fatal(err)
			}
			expectCorrupt(t, fsys, dir, paths, file, want)
		})
	}
}

func TestMissingSegment(t *testing.T) {
	// A missing newest segment cannot be told from a crash before it was
	// created (see the package documentation), so it is not a case here.
	for _, which := range []string{"middle", "first"} {
		eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
			paths, _ := buildWAL(t, fsys, dir)
			victim, named := paths[1], paths[2]
			switch which {
			case "first":
				victim, named = paths[0], paths[1]
			}
			if err := fsys.Remove(victim); err != nil {
				t.Fatal(err)
			}
			expectCorrupt(t, fsys, dir, paths, named, -1)
		})
	}
}

func TestTailRepairSyncFailureStopsOpen(t *testing.T) {
	m := vfs.NewMem(rand.New(rand.NewPCG(2, 2)))
	paths, _ := buildWAL(t, m, "/w")
	last := paths[len(paths)-1]
	data := readAll(t, m, last)
	if err := vfs.WriteFile(m, last, data[:len(data)-5]); err != nil {
		t.Fatal(err)
	}
	m.FailSyncs(1)
	if _, _, err := Open(m, "/w", opts(2048)); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("open whose tail repair could not be synced: %v", err)
	}
	if _, _, err := Open(m, "/w", opts(2048)); err != nil {
		t.Fatalf("open after the fault cleared: %v", err)
	}
}
