package vfs

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"
)

// Whatever the writes (in place, past the end, after a truncation), a
// sync leaves the synced copy equal to the data, and between syncs the
// inode's record of where they may differ holds: they agree before
// dirtyFrom, and, at equal lengths, from dirtyTo on.
func TestMemSyncCopiesWhatChanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem(rand.New(rand.NewPCG(1, 2)))
		f, err := m.Create("/f")
		if err != nil {
			t.Fatal(err)
		}
		n := f.(*memFile).n
		check := func(what string) {
			if !bytes.Equal(n.data[:n.dirtyFrom], n.synced[:n.dirtyFrom]) {
				t.Fatalf("%s: data and synced differ before dirtyFrom %d", what, n.dirtyFrom)
			}
			if len(n.data) == len(n.synced) {
				to := min(n.dirtyTo, len(n.data))
				if !bytes.Equal(n.data[to:], n.synced[to:]) {
					t.Fatalf("%s: data and synced differ after dirtyTo %d", what, n.dirtyTo)
				}
			}
		}
		for i := range rapid.IntRange(1, 40).Draw(t, "ops") {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				p := bytes.Repeat([]byte{byte(i + 1)}, rapid.IntRange(0, 700).Draw(t, "len"))
				off := rapid.IntRange(0, len(n.data)+600).Draw(t, "off")
				if _, err := f.WriteAt(p, int64(off)); err != nil {
					t.Fatal(err)
				}
			case 1:
				if _, err := f.Write(bytes.Repeat([]byte{byte(i + 1)}, rapid.IntRange(0, 700).Draw(t, "len"))); err != nil {
					t.Fatal(err)
				}
			case 2:
				if err := f.Truncate(int64(rapid.IntRange(0, len(n.data)+600).Draw(t, "size"))); err != nil {
					t.Fatal(err)
				}
			case 3:
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(n.synced, n.data) {
					t.Fatalf("after sync: synced (%d bytes) is not the data (%d bytes)", len(n.synced), len(n.data))
				}
			}
			check("after an operation")
		}
	})
}

// A sync after a small write in place into a large file copies that
// write, not the rest of the file (a preallocated WAL segment).
func BenchmarkMemSyncInPlace(b *testing.B) {
	m := NewMem(rand.New(rand.NewPCG(1, 2)))
	f, _ := m.Create("/seg")
	_, _ = f.Write(make([]byte, 64<<20))
	_ = f.Sync()
	p := make([]byte, 4096)
	off := int64(0)
	for b.Loop() {
		_, _ = f.WriteAt(p, off)
		_ = f.Sync()
		off = (off + 4096) % (64 << 20)
	}
}
