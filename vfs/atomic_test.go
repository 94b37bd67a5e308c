package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/vfs"
)

func TestReadFileMissingIsErrNotExist(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, name := range []string{filepath.Join(dir, "nope"), filepath.Join(dir, "nodir", "nope")} {
			if _, err := vfs.ReadFile(fsys, name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadFile(%s) = %v; want fs.ErrNotExist", name, err)
			}
		}
	})
}

func TestWriteFileAtomicCreatesAndReplaces(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "member.json")
		for _, data := range []string{`{"id":1}`, `{"id":2,"name":"longer"}`, ``} {
			if err := vfs.WriteFileAtomic(fsys, name, []byte(data)); err != nil {
				t.Fatal(err)
			}
			if got, err := vfs.ReadFile(fsys, name); err != nil || string(got) != data {
				t.Fatalf("ReadFile = %q, %v; want %q", got, err, data)
			}
			if names, _ := fsys.ReadDir(dir); !slices.Equal(names, []string{"member.json"}) {
				t.Fatalf("directory holds %v; want only member.json", names)
			}
		}
	})
}

// opFS passes operations to a MemFS and logs them. At operation number
// crashAt (counting from 0; -1 for never) the power fails: the MemFS
// crashes, and that operation and every later one fail with errPowerLoss,
// as the process that made them is gone.
type opFS struct {
	m       *vfs.MemFS
	crashAt int
	ops     []string
	dead    bool
}

var errPowerLoss = errors.New("power loss")

func (o *opFS) step(format string, args ...any) error {
	if o.dead {
		return errPowerLoss
	}
	if len(o.ops) == o.crashAt {
		o.dead = true
		o.m.Crash()
		return errPowerLoss
	}
	o.ops = append(o.ops, fmt.Sprintf(format, args...))
	return nil
}

func (o *opFS) file(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &opFile{File: f, o: o}, nil
}

func (o *opFS) Create(name string) (vfs.File, error) {
	if err := o.step("create %s", name); err != nil {
		return nil, err
	}
	return o.file(o.m.Create(name))
}

func (o *opFS) Open(name string) (vfs.File, error) {
	if err := o.step("open %s", name); err != nil {
		return nil, err
	}
	return o.file(o.m.Open(name))
}

func (o *opFS) OpenAppend(name string) (vfs.File, error) {
	if err := o.step("openappend %s", name); err != nil {
		return nil, err
	}
	return o.file(o.m.OpenAppend(name))
}

func (o *opFS) OpenWrite(name string) (vfs.File, error) {
	if err := o.step("openwrite %s", name); err != nil {
		return nil, err
	}
	return o.file(o.m.OpenWrite(name))
}

func (o *opFS) Rename(oldname, newname string) error {
	if err := o.step("rename %s %s", oldname, newname); err != nil {
		return err
	}
	return o.m.Rename(oldname, newname)
}

func (o *opFS) Remove(name string) error {
	if err := o.step("remove %s", name); err != nil {
		return err
	}
	return o.m.Remove(name)
}

func (o *opFS) ReadDir(dir string) ([]string, error) {
	if err := o.step("readdir %s", dir); err != nil {
		return nil, err
	}
	return o.m.ReadDir(dir)
}

func (o *opFS) MkdirAll(dir string) error {
	if err := o.step("mkdirall %s", dir); err != nil {
		return err
	}
	return o.m.MkdirAll(dir)
}

func (o *opFS) SyncDir(dir string) error {
	if err := o.step("syncdir %s", dir); err != nil {
		return err
	}
	return o.m.SyncDir(dir)
}

// opFile logs (and may die at) the operations that change a file.
type opFile struct {
	vfs.File
	o *opFS
}

func (f *opFile) Write(p []byte) (int, error) {
	if err := f.o.step("write %s %d", f.Name(), len(p)); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *opFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.o.step("writeat %s %d@%d", f.Name(), len(p), off); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *opFile) Truncate(size int64) error {
	if err := f.o.step("truncate %s %d", f.Name(), size); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *opFile) Sync() error {
	if err := f.o.step("sync %s", f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *opFile) Close() error {
	if err := f.o.step("close %s", f.Name()); err != nil {
		return err
	}
	return f.File.Close()
}

// TestWriteFileAtomicOperations pins the operations WriteFileAtomic makes,
// in order: a MemFS draws its seeded faults per operation, so the
// simulator's runs depend on them.
func TestWriteFileAtomicOperations(t *testing.T) {
	o := &opFS{m: newMem(1), crashAt: -1}
	if err := vfs.WriteFileAtomic(o, "/d/f", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create /d/f.tmp",
		"write /d/f.tmp 5",
		"sync /d/f.tmp",
		"close /d/f.tmp",
		"rename /d/f.tmp /d/f",
		"syncdir /d",
	}
	if !slices.Equal(o.ops, want) {
		t.Fatalf("operations:\n%q\nwant\n%q", o.ops, want)
	}
}

// crashSeeds is how many MemFS seeds crashViolation tries each crash on:
// the seed decides how much of each unsynced write survives.
const crashSeeds = 60

// crashViolation runs write(fsys, "/d/f", new) once for every point at
// which the power can fail during it, on crashSeeds seeds, after making
// old (if not nil) the durable contents of /d/f. It describes the first
// crash after which /d/f holds neither its old contents (no file, if old
// is nil) nor new, whole, or, once write runs to the end without a crash
// and the power fails then, not new. It also returns the number of
// crashes during write.
func crashViolation(old, new []byte, write func(vfs.FS, string, []byte) error) (string, int) {
	crashes := 0
	for seed := range uint64(crashSeeds) {
		for crashAt := 0; ; crashAt++ {
			m := newMem(seed)
			if old != nil {
				if err := vfs.WriteFileAtomic(m, "/d/f", old); err != nil {
					return fmt.Sprintf("seed %d: writing the old contents: %v", seed, err), crashes
				}
			}
			o := &opFS{m: m, crashAt: crashAt}
			err := write(o, "/d/f", new)
			if !o.dead {
				if err != nil {
					return fmt.Sprintf("seed %d: write without a crash: %v", seed, err), crashes
				}
				m.Crash()
				if got, err := vfs.ReadFile(m, "/d/f"); err != nil || !bytes.Equal(got, new) {
					return fmt.Sprintf("seed %d: crash after the write returned: %d bytes (%v), want the new %d",
						seed, len(got), err, len(new)), crashes
				}
				break
			}
			crashes++
			if err == nil {
				return fmt.Sprintf("seed %d: write returned nil though the power failed at operation %d",
					seed, crashAt), crashes
			}
			got, err := vfs.ReadFile(m, "/d/f")
			switch {
			case old == nil && errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return fmt.Sprintf("seed %d, crash at operation %d: %v", seed, crashAt, err), crashes
			case old != nil && bytes.Equal(got, old):
			case bytes.Equal(got, new):
			default:
				return fmt.Sprintf("seed %d, crash at operation %d: torn file of %d bytes: %.40q...",
					seed, crashAt, len(got), got), crashes
			}
		}
	}
	return "", crashes
}

// TestWriteFileAtomicCrashAtEveryPoint: whenever the power fails, the file
// holds its old contents or the new, whole; after WriteFileAtomic returns,
// the new.
func TestWriteFileAtomicCrashAtEveryPoint(t *testing.T) {
	// Several sectors each, so that a torn write could keep a part of
	// either; new both shorter and longer than old.
	short := bytes.Repeat([]byte("NEW!"), 300)
	long := bytes.Repeat([]byte("new."), 700)
	for _, tc := range []struct {
		name     string
		old, new []byte
	}{
		{"no old file", nil, short},
		{"shorter", bytes.Repeat([]byte("old."), 500), short},
		{"longer", bytes.Repeat([]byte("old."), 500), long},
		{"to empty", bytes.Repeat([]byte("old."), 500), []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, crashes := crashViolation(tc.old, tc.new, vfs.WriteFileAtomic)
			if v != "" {
				t.Fatal(v)
			}
			// A crash before each of the six operations
			// (TestWriteFileAtomicOperations), on every seed.
			if crashes != 6*crashSeeds {
				t.Fatalf("%d crashes checked; want %d", crashes, 6*crashSeeds)
			}
		})
	}
}

// TestCrashCheckCatchesBrokenRecipes shows that the check above can fail:
// each of these recipes leaves a torn file after some crash, or loses the
// new contents to a crash after it returns.
func TestCrashCheckCatchesBrokenRecipes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rename bool // write TempName(name), else name itself
		steps  []string
	}{
		{"in place", false, []string{"sync", "close"}},
		{"no file sync", true, []string{"close", "rename", "syncdir"}},
		{"file synced after the rename", true, []string{"rename", "syncdir", "sync", "close"}},
		{"no directory sync", true, []string{"sync", "close", "rename"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := func(fsys vfs.FS, name string, data []byte) error {
				tmp := name
				if tc.rename {
					tmp = vfs.TempName(name)
				}
				f, err := fsys.Create(tmp)
				if err != nil {
					return err
				}
				if _, err := f.Write(data); err != nil {
					return err
				}
				for _, step := range tc.steps {
					switch step {
					case "sync":
						err = f.Sync()
					case "close":
						err = f.Close()
					case "rename":
						err = fsys.Rename(tmp, name)
					case "syncdir":
						err = fsys.SyncDir(filepath.Dir(name))
					}
					if err != nil {
						return err
					}
				}
				return nil
			}
			old, new := bytes.Repeat([]byte("old."), 500), bytes.Repeat([]byte("NEW!"), 300)
			v, _ := crashViolation(old, new, broken)
			if v == "" {
				t.Fatal("the crash check passed a broken recipe")
			}
			t.Log("caught:", v)
		})
	}
}

func TestPendingFileCommitTimesTheSync(t *testing.T) {
	m := newMem(2)
	p, err := vfs.CreatePending(m, "/d/f")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != vfs.TempName("/d/f") {
		t.Fatalf("writing under %q; want %q", p.Name(), vfs.TempName("/d/f"))
	}
	var observed []time.Duration
	p.ObserveSync = func(d time.Duration) { observed = append(observed, d) }
	mustWrite(t, p, "abc")
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(observed) != 1 {
		t.Fatalf("ObserveSync called %d times; want once", len(observed))
	}
	if err := p.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Commit = %v; want fs.ErrClosed", err)
	}
	if err := p.Discard(); err != nil {
		t.Fatalf("Discard after Commit = %v; want nil (nothing to remove)", err)
	}
	m.Crash()
	if got, err := vfs.ReadFile(m, "/d/f"); err != nil || string(got) != "abc" {
		t.Fatalf("after crash: %q, %v", got, err)
	}
}

func TestPendingFileFailedSyncLeavesTheOldFile(t *testing.T) {
	m := newMem(3)
	if err := vfs.WriteFileAtomic(m, "/d/f", []byte("old")); err != nil {
		t.Fatal(err)
	}
	p, err := vfs.CreatePending(m, "/d/f")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, "new")
	m.FailSyncs(1)
	if err := p.Commit(); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Commit = %v; want ErrInjected", err)
	}
	if got, _ := vfs.ReadFile(m, "/d/f"); string(got) != "old" {
		t.Fatalf("after a failed commit the file holds %q", got)
	}
	if names, _ := m.ReadDir("/d"); !slices.Equal(names, []string{"f", "f.tmp"}) {
		t.Fatalf("after a failed commit: %v; want the temporary file kept", names)
	}
	if err := p.Discard(); err != nil {
		t.Fatal(err)
	}
	if names, _ := m.ReadDir("/d"); !slices.Equal(names, []string{"f"}) {
		t.Fatalf("after Discard: %v; want the temporary file removed", names)
	}
}

func TestPendingFileCloseKeepsTheTemporaryFile(t *testing.T) {
	m := newMem(4)
	p, err := vfs.CreatePending(m, "/d/f")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, "x")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
	if err := p.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Commit after Close = %v; want fs.ErrClosed", err)
	}
	if names, _ := m.ReadDir("/d"); !slices.Equal(names, []string{"f.tmp"}) {
		t.Fatalf("after Close: %v", names)
	}
}

// TestNewPendingFileCommitsAFileOfAnyName: a file filled under a name of
// the caller's choosing (the WAL's spare segment) is renamed into place.
func TestNewPendingFileCommitsAFileOfAnyName(t *testing.T) {
	m := newMem(5)
	f, err := m.Create("/d/spare.tmp")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "00000000")
	p := vfs.NewPendingFile(m, f, "/d/seg")
	if _, err := p.WriteAt([]byte("hdr"), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if names, _ := m.ReadDir("/d"); !slices.Equal(names, []string{"seg"}) {
		t.Fatalf("after commit and crash: %v", names)
	}
	if got, _ := vfs.ReadFile(m, "/d/seg"); string(got) != "hdr00000" {
		t.Fatalf("seg holds %q", got)
	}
}
