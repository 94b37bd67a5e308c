package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/vfs"
)

// eachFS runs fn against the OS file system in a temp directory and against
// a fresh MemFS, so both implementations meet the same contract.
func eachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, vfs.OS(), t.TempDir()) })
	t.Run("mem", func(t *testing.T) {
		m := vfs.NewMem(rand.New(rand.NewPCG(1, 2)))
		if err := m.MkdirAll("/data"); err != nil {
			t.Fatal(err)
		}
		fn(t, m, "/data")
	})
}

func TestCreateWriteReadBack(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "a")
		f, err := fsys.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("hello ")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("world")); err != nil {
			t.Fatal(err)
		}
		if sz, err := f.Size(); err != nil || sz != 11 {
			t.Fatalf("Size = %d, %v; want 11", sz, err)
		}
		buf := make([]byte, 5)
		if n, err := f.ReadAt(buf, 6); err != nil || string(buf[:n]) != "world" {
			t.Fatalf("ReadAt = %q, %v", buf[:n], err)
		}
		if n, err := f.ReadAt(buf, 9); err != io.EOF || n != 2 {
			t.Fatalf("short ReadAt = %d, %v; want 2, EOF", n, err)
		}
		if f.Name() != name {
			t.Fatalf("Name = %q", f.Name())
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := vfs.ReadFile(fsys, name)
		if err != nil || string(got) != "hello world" {
			t.Fatalf("ReadFile = %q, %v", got, err)
		}
		// Create on an existing name truncates it.
		if err := vfs.WriteFile(fsys, name, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if got, _ := vfs.ReadFile(fsys, name); string(got) != "x" {
			t.Fatalf("after re-create: %q", got)
		}
	})
}

func TestOpenAppendWritesAtEnd(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "log")
		if err := vfs.WriteFile(fsys, name, []byte("abcdef")); err != nil {
			t.Fatal(err)
		}
		f, err := fsys.OpenAppend(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(3); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("XY")); err != nil {
			t.Fatal(err)
		}
		// Read through the same handle from the start.
		got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
		if err != nil || string(got) != "abcXY" {
			t.Fatalf("contents = %q, %v; want abcXY", got, err)
		}
	})
}

func TestReadOnlyHandleRefusesWrites(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "ro")
		if err := vfs.WriteFile(fsys, name, []byte("abc")); err != nil {
			t.Fatal(err)
		}
		f, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("x")); err == nil {
			t.Fatal("write through a read-only handle succeeded")
		}
		b, err := io.ReadAll(f)
		if err != nil || string(b) != "abc" {
			t.Fatalf("Read = %q, %v", b, err)
		}
	})
}

func TestNamesRenameRemoveReadDir(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, n := range []string{"c", "a", "b"} {
			if err := vfs.WriteFile(fsys, filepath.Join(dir, n), []byte(n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := fsys.MkdirAll(filepath.Join(dir, "sub", "deeper")); err != nil {
			t.Fatal(err)
		}
		names, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a", "b", "c", "sub"}; !slices.Equal(names, want) {
			t.Fatalf("ReadDir = %v; want %v", names, want)
		}
		if err := fsys.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
		if got, _ := vfs.ReadFile(fsys, filepath.Join(dir, "c")); string(got) != "a" {
			t.Fatalf("renamed file holds %q; want a", got)
		}
		if _, err := fsys.Open(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("old name after rename: %v; want ErrNotExist", err)
		}
		if err := fsys.Remove(filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(filepath.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second remove: %v; want ErrNotExist", err)
		}
		if err := fsys.Remove(filepath.Join(dir, "sub")); err == nil {
			t.Fatal("removed a non-empty directory")
		}
		if err := fsys.Remove(filepath.Join(dir, "sub", "deeper")); err != nil {
			t.Fatal(err)
		}
		names, _ = fsys.ReadDir(dir)
		if want := []string{"c", "sub"}; !slices.Equal(names, want) {
			t.Fatalf("ReadDir = %v; want %v", names, want)
		}
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.ReadDir(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadDir of a missing dir: %v", err)
		}
		if _, err := fsys.OpenAppend(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenAppend of a missing file: %v", err)
		}
	})
}

func newMem(seed uint64) *vfs.MemFS {
	m := vfs.NewMem(rand.New(rand.NewPCG(seed, seed)))
	if err := m.MkdirAll("/d"); err != nil {
		panic(err)
	}
	return m
}

func mustWrite(t *testing.T, f vfs.File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestMemCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	for seed := range uint64(50) {
		m := newMem(seed)
		f, _ := m.Create("/d/f")
		mustWrite(t, f, "durable")
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := m.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, "-volatile")
		g, _ := m.Create("/d/unsynced-name") // its name is never made durable
		mustWrite(t, g, "x")
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
		m.Crash()

		got, err := vfs.ReadFile(m, "/d/f")
		if err != nil {
			t.Fatal(err)
		}
		// Either the volatile bytes are gone, or a prefix of them survived,
		// possibly followed by zeros; never anything else.
		if !bytes.HasPrefix(got, []byte("durable")) {
			t.Fatalf("seed %d: synced data lost: %q", seed, got)
		}
		tail := got[len("durable"):]
		vol := []byte("-volatile")
		i := 0
		for i < len(tail) && i < len(vol) && tail[i] == vol[i] {
			i++
		}
		for _, c := range tail[i:] {
			if c != 0 {
				t.Fatalf("seed %d: invented data after crash: %q", seed, got)
			}
		}
		if len(tail) > len(vol) {
			t.Fatalf("seed %d: file grew beyond what was written: %q", seed, got)
		}
		if _, err := m.Open("/d/unsynced-name"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("seed %d: a create without SyncDir survived the crash: %v", seed, err)
		}
		if _, err := f.Write([]byte("y")); !errors.Is(err, vfs.ErrStaleHandle) {
			t.Fatalf("seed %d: pre-crash handle still writes: %v", seed, err)
		}
	}
}

func TestMemCrashOutcomesVaryWithSeed(t *testing.T) {
	// Over many seeds, all three outcomes appear: everything lost, a torn
	// prefix kept, and a zero-filled tail.
	lost, torn, zeros := 0, 0, 0
	for seed := range uint64(200) {
		m := newMem(seed)
		f, _ := m.Create("/d/f")
		_ = m.SyncDir("/d")
		mustWrite(t, f, "0123456789")
		m.Crash()
		got, _ := vfs.ReadFile(m, "/d/f")
		switch {
		case len(got) == 0:
			lost++
		case bytes.IndexByte(got, 0) >= 0:
			zeros++
		default:
			torn++
		}
	}
	if lost == 0 || torn == 0 || zeros == 0 {
		t.Fatalf("outcomes lost=%d torn=%d zeros=%d; want each > 0", lost, torn, zeros)
	}
}

func TestMemCrashUndoesUnsyncedRenameAndRemove(t *testing.T) {
	m := newMem(7)
	for _, n := range []string{"/d/a", "/d/b"} {
		f, _ := m.Create(n)
		mustWrite(t, f, n)
		_ = f.Sync()
	}
	_ = m.SyncDir("/d")
	if err := m.Rename("/d/a", "/d/c"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/b"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	names, _ := m.ReadDir("/d")
	if want := []string{"a", "b"}; !slices.Equal(names, want) {
		t.Fatalf("after crash: %v; want %v", names, want)
	}
	// Now make the rename durable.
	_ = m.Rename("/d/a", "/d/c")
	_ = m.SyncDir("/d")
	m.Crash()
	names, _ = m.ReadDir("/d")
	if !slices.Equal(names, []string{"b", "c"}) {
		t.Fatalf("after synced rename and crash: %v", names)
	}
	if got, _ := vfs.ReadFile(m, "/d/c"); string(got) != "/d/a" {
		t.Fatalf("renamed contents %q", got)
	}
}

func TestMemTruncateIsNotDurableUntilSync(t *testing.T) {
	for seed := range uint64(20) {
		m := newMem(seed)
		f, _ := m.Create("/d/f")
		mustWrite(t, f, "abcdef")
		_ = f.Sync()
		_ = m.SyncDir("/d")
		_ = f.Truncate(2)
		m.Crash()
		if got, _ := vfs.ReadFile(m, "/d/f"); string(got) != "abcdef" {
			t.Fatalf("seed %d: unsynced truncate survived: %q", seed, got)
		}
		f, _ = m.OpenAppend("/d/f")
		_ = f.Truncate(2)
		_ = f.Sync()
		m.Crash()
		if got, _ := vfs.ReadFile(m, "/d/f"); string(got) != "ab" {
			t.Fatalf("seed %d: synced truncate lost: %q", seed, got)
		}
	}
}

func TestMemInjectedFaults(t *testing.T) {
	m := newMem(3)
	f, _ := m.Create("/d/f")
	mustWrite(t, f, "abcdefgh")
	m.FailSyncs(1)
	if err := f.Sync(); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Sync = %v; want ErrInjected", err)
	}
	_ = m.SyncDir("/d")
	m.Crash()
	// The failed sync made nothing durable... (the name was synced after).
	f, _ = m.OpenAppend("/d/f")
	sz, _ := f.Size()
	if sz > 8 {
		t.Fatalf("size %d after crash", sz)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("second Sync = %v; the fault was for one call only", err)
	}

	m.FailWrites(1)
	if _, err := f.Write([]byte("zz")); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Write = %v; want ErrInjected", err)
	}
	if sz2, _ := f.Size(); sz2 != sz {
		t.Fatalf("a failed write changed the size %d -> %d", sz, sz2)
	}

	_ = vfs.WriteFile(m, "/d/g", []byte("abcdefgh"))
	m.FlipReadBits(1)
	got, _ := vfs.ReadFile(m, "/d/g")
	diff := 0
	for i := range got {
		for b := got[i] ^ "abcdefgh"[i]; b != 0; b &= b - 1 {
			diff++
		}
	}
	if diff != 1 {
		t.Fatalf("flipped %d bits; want 1 (%q)", diff, got)
	}
	if got, _ := vfs.ReadFile(m, "/d/g"); string(got) != "abcdefgh" {
		t.Fatalf("the stored data was corrupted, not just the read: %q", got)
	}
}

func TestMemFaultRates(t *testing.T) {
	m := newMem(9)
	m.SetFaultRates(vfs.FaultRates{SyncError: 0.5})
	f, _ := m.Create("/d/f")
	failed := 0
	for range 200 {
		if f.Sync() != nil {
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Fatalf("%d of 200 syncs failed at rate 0.5", failed)
	}
}

// TestMemDeterministic: the same seed and the same operations give the same
// bytes after a crash.
func TestMemDeterministic(t *testing.T) {
	run := func(seed uint64) []byte {
		m := newMem(seed)
		var out []byte
		for i := range 20 {
			f, _ := m.Create(filepath.Join("/d", string(rune('a'+i))))
			_ = m.SyncDir("/d")
			for j := range 10 {
				mustWrite(t, f, "0123456789abcdef")
				if j == 4 {
					_ = f.Sync()
				}
			}
		}
		m.Crash()
		names, _ := m.ReadDir("/d")
		for _, n := range names {
			b, _ := vfs.ReadFile(m, filepath.Join("/d", n))
			out = append(out, b...)
			out = append(out, '|')
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different results")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave identical torn results (suspicious: is the rng used?)")
	}
}
